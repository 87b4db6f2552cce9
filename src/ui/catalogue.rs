//! The rows of a product table (the product list, the counts view) as pages fetched from the
//! engine: only the pages around the rows drawn are held, so memory does not grow with the
//! store. Drawing reads rows from here and reports which rows it drew ([`VisibleRows`]); after
//! the frame the session asks for the pages those rows need ([`ProductPages::take_requests`]).
//!
//! Every change of the query, and every refresh after the replica changed, starts a new
//! *generation*: answers to an older one are ignored, so a slow answer to "la" never replaces
//! the rows of "lamp".

use std::collections::BTreeMap;
use std::ops::Range;

use crate::sync::{ProductPage, ProductQuery, ProductSummary};

/// Rows per page asked of the engine: a few screens of rows, one small SQL query.
pub const PAGE_ROWS: u64 = 100;

/// Pages kept on each side of the visible ones: a scroll back finds its rows at once, and the
/// cache stays at most (2 × this + the pages on screen) × [`PAGE_ROWS`] rows.
const KEEP_AROUND: u64 = 5;

/// Which table a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    List,
    Counts,
}

/// The rows a frame drew (`first..end`, row indexes of the query's order).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VisibleRows(pub Range<u64>);

/// A page to fetch: rows `page * PAGE_ROWS ..` of `query`, for `generation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub generation: u64,
    pub query: ProductQuery,
    pub page: u64,
}

impl PageRequest {
    pub fn offset(&self) -> u64 {
        self.page * PAGE_ROWS
    }
}

#[derive(Debug, Default)]
struct Page {
    rows: Vec<ProductSummary>,
    /// The rows answer the current generation (otherwise they are shown until they do).
    fresh: bool,
    /// A request of the current generation is out.
    asked: bool,
}

#[derive(Debug)]
pub struct ProductPages {
    query: ProductQuery,
    generation: u64,
    /// Bumped when the query changes (not on a refresh): the table scrolls back to the top.
    query_serial: u64,
    total: Option<u64>,
    pages: BTreeMap<u64, Page>,
    visible: Range<u64>,
    requests: Vec<PageRequest>,
}

impl ProductPages {
    pub fn new(query: ProductQuery) -> ProductPages {
        ProductPages {
            query,
            generation: 0,
            query_serial: 0,
            total: None,
            pages: BTreeMap::new(),
            visible: 0..1,
            requests: Vec::new(),
        }
    }

    pub fn query(&self) -> &ProductQuery {
        &self.query
    }

    pub fn query_serial(&self) -> u64 {
        self.query_serial
    }

    /// Products the query selects; `None` until the first answer.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// The row at `index`, if its page is held.
    pub fn row(&self, index: u64) -> Option<&ProductSummary> {
        let page = self.pages.get(&(index / PAGE_ROWS))?;
        page.rows.get((index % PAGE_ROWS) as usize)
    }

    /// Every row held (for names of products that are on screen).
    pub fn rows(&self) -> impl Iterator<Item = &ProductSummary> {
        self.pages.values().flat_map(|p| p.rows.iter())
    }

    /// Rows held, for tests and the benchmarks' memory figures.
    pub fn held(&self) -> usize {
        self.pages.values().map(|p| p.rows.len()).sum()
    }

    /// Another search or order: everything held is for the old one, so it goes, and the table
    /// starts again from its first page.
    pub fn set_query(&mut self, query: ProductQuery) {
        if query == self.query {
            return;
        }
        self.query = query;
        self.generation += 1;
        self.query_serial += 1;
        self.total = None;
        self.pages.clear();
        self.visible = 0..1;
        self.ask_visible();
    }

    /// The replica changed: the rows on screen are asked again (and shown as they are until
    /// they arrive); the rest are dropped rather than refreshed.
    pub fn refresh(&mut self) {
        self.generation += 1;
        let keep = self.page_span(0);
        self.pages.retain(|index, _| keep.contains(index));
        for page in self.pages.values_mut() {
            page.fresh = false;
            page.asked = false;
        }
        self.ask_visible();
    }

    /// The rows the last frame drew: their pages (and one more on each side) are asked for,
    /// pages far from them are let go.
    pub fn shown(&mut self, rows: VisibleRows) {
        self.visible = rows.0;
        let keep = self.page_span(KEEP_AROUND);
        self.pages.retain(|index, _| keep.contains(index));
        self.ask_visible();
    }

    /// Pages to fetch, oldest wish first; each is asked once per generation.
    pub fn take_requests(&mut self) -> Vec<PageRequest> {
        std::mem::take(&mut self.requests)
    }

    /// An answer; returns whether it was taken (false: it answered an older generation).
    pub fn arrived(&mut self, generation: u64, page: u64, answer: ProductPage) -> bool {
        if generation != self.generation {
            return false;
        }
        self.total = Some(answer.total);
        if self.page_span(KEEP_AROUND).contains(&page) {
            self.pages.insert(
                page,
                Page {
                    rows: answer.rows,
                    fresh: true,
                    asked: false,
                },
            );
        }
        true
    }

    /// Pages `first - around ..= last + around` of the visible rows.
    fn page_span(&self, around: u64) -> std::ops::RangeInclusive<u64> {
        let first = self.visible.start / PAGE_ROWS;
        let last = self.visible.end.saturating_sub(1).max(self.visible.start) / PAGE_ROWS;
        first.saturating_sub(around)..=last + around
    }

    fn ask_visible(&mut self) {
        let last_page = self
            .total
            .map(|t| t.saturating_sub(1) / PAGE_ROWS)
            .unwrap_or(0);
        for index in self.page_span(1) {
            if index > last_page {
                break;
            }
            let page = self.pages.entry(index).or_default();
            if !page.fresh && !page.asked {
                page.asked = true;
                self.requests.push(PageRequest {
                    generation: self.generation,
                    query: self.query.clone(),
                    page: index,
                });
            }
        }
    }
}

/// The first and last row a table drew this frame.
#[derive(Default)]
pub struct Seen {
    first: Option<u64>,
    last: u64,
}

impl Seen {
    pub fn saw(&mut self, index: u64) {
        self.first = Some(self.first.map_or(index, |f| f.min(index)));
        self.last = self.last.max(index);
    }

    /// The rows seen; with none (an empty or unanswered query), the first, so that it is asked.
    pub fn rows(&self) -> VisibleRows {
        match self.first {
            Some(first) => VisibleRows(first..self.last + 1),
            None => VisibleRows(0..1),
        }
    }
}

/// Whether a table's query changed since it was last drawn, so it goes back to its first row.
/// The query's serial is kept in egui's memory, next to the table's own scroll state.
pub fn back_to_top(ui: &egui::Ui, table: &str, serial: u64) -> bool {
    let id = ui.scope_id().with((table, "query-serial"));
    ui.data_mut(|d| {
        let last = d.get_temp::<u64>(id);
        d.insert_temp(id, serial);
        last.is_some_and(|last| last != serial)
    })
}

/// Height of a table row: one line of body text and the row's padding.
pub const ROW_HEIGHT: f32 = 20.0;

/// "just now", "5 min ago", "2 h ago": coarse on purpose, so the bar does not tick every second.
pub(super) fn ago(at: std::time::SystemTime) -> String {
    let secs = at.elapsed().map_or(0, |d| d.as_secs());
    match secs {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::ProductSort;

    fn answer(total: u64, page: u64) -> ProductPage {
        let first = page * PAGE_ROWS;
        let end = (first + PAGE_ROWS).min(total);
        ProductPage {
            total,
            offset: first,
            rows: (first..end)
                .map(|i| ProductSummary {
                    id: i as i64 + 1,
                    name: format!("P{i}"),
                    sku: String::new(),
                    image_count: 0,
                    has_thumbnail: false,
                    pending_edits: 0,
                })
                .collect(),
        }
    }

    fn answer_all(pages: &mut ProductPages, total: u64) -> Vec<u64> {
        let requests = pages.take_requests();
        for r in &requests {
            assert!(pages.arrived(r.generation, r.page, answer(total, r.page)));
        }
        requests.iter().map(|r| r.page).collect()
    }

    #[test]
    fn asks_only_for_the_pages_around_the_rows_drawn_and_forgets_far_ones() {
        let mut pages = ProductPages::new(ProductQuery::default());
        pages.shown(VisibleRows(0..1));
        assert_eq!(answer_all(&mut pages, 100_000), [0]);
        assert_eq!(pages.total(), Some(100_000));
        pages.shown(VisibleRows(0..40));
        assert_eq!(answer_all(&mut pages, 100_000), [1]);
        assert_eq!(pages.row(150).map(|p| p.id), Some(151));
        pages.shown(VisibleRows(50_000..50_040));
        assert_eq!(answer_all(&mut pages, 100_000), [499, 500, 501]);
        assert!(pages.row(150).is_none(), "far pages are let go");
        assert_eq!(pages.row(50_010).map(|p| p.id), Some(50_011));
        // Scrolling through the whole catalogue never holds more than a bounded window.
        for first in (0..100_000).step_by(37) {
            pages.shown(VisibleRows(first..first + 40));
            answer_all(&mut pages, 100_000);
            assert!(pages.held() <= 13 * PAGE_ROWS as usize, "{}", pages.held());
        }
        // Nothing is asked twice.
        pages.shown(VisibleRows(99_960..100_000));
        assert!(pages.take_requests().is_empty());
    }

    #[test]
    fn answers_to_an_older_query_or_generation_are_ignored() {
        let mut pages = ProductPages::new(ProductQuery::default());
        pages.shown(VisibleRows(0..10));
        let old = pages.take_requests();
        pages.set_query(ProductQuery {
            search: "lamp".into(),
            sort: ProductSort::Name,
            descending: false,
        });
        let new = pages.take_requests();
        assert_eq!(
            new.len(),
            1,
            "the first page of the new query is asked at once"
        );
        assert_eq!(new[0].query.search, "lamp");
        assert!(!pages.arrived(old[0].generation, 0, answer(500, 0)));
        assert_eq!(pages.total(), None);
        assert!(pages.arrived(new[0].generation, 0, answer(3, 0)));
        assert_eq!(pages.total(), Some(3));
        // A refresh keeps the rows on screen until their new answer arrives.
        pages.refresh();
        assert_eq!(pages.row(0).map(|p| p.id), Some(1));
        let again = pages.take_requests();
        assert_eq!(again.iter().map(|r| r.page).collect::<Vec<_>>(), [0]);
        assert!(!pages.arrived(new[0].generation, 0, answer(9, 0)));
        assert!(pages.arrived(again[0].generation, 0, answer(2, 0)));
        assert_eq!(pages.total(), Some(2));
        assert!(pages.row(2).is_none());
    }

    #[test]
    fn rows_seen_cover_the_first_to_the_last() {
        let mut seen = Seen::default();
        assert_eq!(seen.rows(), VisibleRows(0..1));
        for i in [40, 38, 39, 60] {
            seen.saw(i);
        }
        assert_eq!(seen.rows(), VisibleRows(38..61));
    }
}
