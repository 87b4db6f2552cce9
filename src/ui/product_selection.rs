//! Several products selected in the product list (Ctrl+click toggles one, Shift+click takes
//! the rows between the last click and this one), for the bulk edits of `bulk_products.rs`.
//! A plain click opens one product and ends the selection. Pure state, unit-tested.

use std::collections::BTreeSet;

#[derive(Debug, Default, Clone)]
pub struct ProductSelection {
    ids: BTreeSet<i64>,
    /// The last Ctrl- or plain-clicked row (product, row index): where a Shift+click starts.
    anchor: Option<(i64, u64)>,
}

impl ProductSelection {
    pub fn ids(&self) -> &BTreeSet<i64> {
        &self.ids
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Two or more products: the bulk panel replaces the grid.
    pub fn is_bulk(&self) -> bool {
        self.ids.len() > 1
    }

    pub fn clear(&mut self) {
        self.ids.clear();
    }

    /// A plain click on the row `index` (the product is opened): the anchor of a later
    /// Shift+click, and no other product stays selected.
    pub fn opened(&mut self, product: i64, index: Option<u64>) {
        self.ids.clear();
        self.anchor = index.map(|i| (product, i));
    }

    /// A Ctrl+click (`extend` false) or Shift+click (`extend` true) on row `index`. `shown`:
    /// the product open now, which a first Ctrl+click keeps in the selection. `row(i)`: the
    /// product at row `i` if the list holds it (rows not held are left out of a range).
    pub fn click(
        &mut self,
        product: i64,
        index: u64,
        extend: bool,
        shown: Option<i64>,
        row: impl Fn(u64) -> Option<i64>,
    ) {
        if self.ids.is_empty()
            && let Some(shown) = shown
        {
            self.ids.insert(shown);
        }
        match (extend, self.anchor) {
            (true, Some((_, from))) => {
                let (first, last) = (from.min(index), from.max(index));
                self.ids.extend((first..=last).filter_map(&row));
                self.ids.insert(product);
            }
            _ => {
                if !self.ids.remove(&product) {
                    self.ids.insert(product);
                }
                self.anchor = Some((product, index));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(i: u64) -> Option<i64> {
        Some(i as i64 + 10)
    }

    #[test]
    fn ctrl_clicks_add_to_the_open_product_and_toggle() {
        let mut selection = ProductSelection::default();
        selection.opened(10, Some(0));
        selection.click(12, 2, false, Some(10), rows);
        assert_eq!(
            selection.ids().iter().copied().collect::<Vec<_>>(),
            [10, 12]
        );
        assert!(selection.is_bulk());
        selection.click(12, 2, false, Some(10), rows);
        assert_eq!(selection.ids().iter().copied().collect::<Vec<_>>(), [10]);
        assert!(!selection.is_bulk());
    }

    #[test]
    fn shift_click_takes_the_rows_between_the_anchor_and_the_click() {
        let mut selection = ProductSelection::default();
        selection.opened(11, Some(1));
        selection.click(14, 4, true, Some(11), rows);
        assert_eq!(
            selection.ids().iter().copied().collect::<Vec<_>>(),
            [11, 12, 13, 14]
        );
        // Rows the list does not hold are left out, the clicked one is always in.
        let mut selection = ProductSelection::default();
        selection.opened(10, Some(0));
        selection.click(13, 3, true, Some(10), |i| {
            (i != 2).then(|| rows(i)).flatten()
        });
        assert_eq!(
            selection.ids().iter().copied().collect::<Vec<_>>(),
            [10, 11, 13]
        );
        selection.opened(12, Some(2));
        assert_eq!(selection.len(), 0, "a plain click ends the selection");
    }
}
