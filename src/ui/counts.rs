//! The counts view for support staff: every product with its image count, thumbnail and
//! pending edits, sortable; the store-wide total asked of the store; a chart; CSV export.

use egui::RichText;
use egui_plot::{Bar, BarChart, Plot};

use super::command::Command;
use crate::sync::ProductSummary;

/// Which column the table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Id,
    Name,
    Sku,
    Images,
    Thumbnail,
    Pending,
}

#[derive(Debug)]
pub struct CountsView {
    pub sort_by: SortBy,
    pub descending: bool,
    pub export_path: String,
}

impl Default for CountsView {
    fn default() -> Self {
        CountsView {
            sort_by: SortBy::Images,
            descending: true,
            export_path: String::new(),
        }
    }
}

/// The store-wide total as last asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreCount {
    NotAsked,
    Asking,
    Known(u64),
    /// The store could not be asked (offline?); the text says why.
    Failed(String),
}

impl CountsView {
    /// The products in the table's order.
    pub fn sorted<'a>(&self, products: &'a [ProductSummary]) -> Vec<&'a ProductSummary> {
        let mut rows: Vec<&ProductSummary> = products.iter().collect();
        rows.sort_by(|a, b| {
            let order = match self.sort_by {
                SortBy::Id => a.id.cmp(&b.id),
                SortBy::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
                SortBy::Sku => a.sku.cmp(&b.sku),
                SortBy::Images => a.image_count.cmp(&b.image_count),
                SortBy::Thumbnail => a.has_thumbnail.cmp(&b.has_thumbnail),
                SortBy::Pending => a.pending_edits.cmp(&b.pending_edits),
            };
            let order = if self.descending {
                order.reverse()
            } else {
                order
            };
            order.then(a.id.cmp(&b.id))
        });
        rows
    }

    fn header_ui(&mut self, ui: &mut egui::Ui, title: &str, column: SortBy) {
        let mark = match (self.sort_by == column, self.descending) {
            (true, true) => " v",
            (true, false) => " ^",
            (false, _) => "",
        };
        let response = ui
            .button(RichText::new(format!("{title}{mark}")).strong())
            .on_hover_text(format!("Sort by {}", title.to_lowercase()));
        if response.clicked() {
            if self.sort_by == column {
                self.descending = !self.descending;
            } else {
                self.sort_by = column;
                self.descending = matches!(column, SortBy::Images | SortBy::Pending);
            }
        }
    }

    pub fn counts_ui(
        &mut self,
        ui: &mut egui::Ui,
        products: &[ProductSummary],
        store: &StoreCount,
        commands: &mut Vec<Command>,
    ) {
        ui.heading("Image counts");
        let local: u64 = products.iter().map(|p| p.image_count).sum();
        let without = products
            .iter()
            .filter(|p| p.image_count > 0 && !p.has_thumbnail)
            .count();
        let pending: u64 = products.iter().map(|p| p.pending_edits).sum();
        ui.horizontal(|ui| {
            match store {
                StoreCount::Known(n) => ui
                    .label(format!("Store-wide: {n} images"))
                    .on_hover_text("As counted by the store just now"),
                StoreCount::Asking | StoreCount::NotAsked => ui.label("Asking the store…"),
                StoreCount::Failed(why) => ui
                    .label(RichText::new("Store total unknown").color(ui.visuals().warn_fg_color))
                    .on_hover_text(why),
            };
            if ui
                .button("Recount")
                .on_hover_text("Ask the store for its total again")
                .clicked()
            {
                commands.push(Command::RecountStore);
            }
            ui.separator();
            ui.label(format!(
                "{} products · {local} images in the local copy · {without} without a thumbnail · {pending} edits pending",
                products.len()
            ));
        });
        ui.horizontal(|ui| {
            let label = ui.label("CSV path");
            ui.add(egui::TextEdit::singleline(&mut self.export_path).desired_width(260.0))
                .labelled_by(label.id);
            if ui.button("Export CSV").clicked() {
                commands.push(match self.export_path.trim() {
                    "" => Command::ChooseCsvPath,
                    path => Command::ExportCsv(path.into()),
                });
            }
        });
        ui.separator();

        let rows = self.sorted(products);
        let bars: Vec<Bar> = rows
            .iter()
            .enumerate()
            .map(|(n, p)| Bar::new(n as f64, p.image_count as f64).name(&p.name))
            .collect();
        Plot::new("images-per-product")
            .height(160.0)
            .allow_zoom(false)
            .allow_scroll(false)
            .allow_drag(false)
            .show(ui, |plot| {
                plot.bar_chart(BarChart::new("Images per product", bars).width(0.7));
            });
        ui.separator();

        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                egui::Grid::new("counts-table")
                    .num_columns(6)
                    .striped(true)
                    .show(ui, |ui| {
                        self.header_ui(ui, "Id", SortBy::Id);
                        self.header_ui(ui, "Name", SortBy::Name);
                        self.header_ui(ui, "SKU", SortBy::Sku);
                        self.header_ui(ui, "Images", SortBy::Images);
                        self.header_ui(ui, "Thumbnail", SortBy::Thumbnail);
                        self.header_ui(ui, "Pending", SortBy::Pending);
                        ui.end_row();
                        for product in &rows {
                            ui.label(product.id.to_string());
                            if ui
                                .link(&product.name)
                                .on_hover_text("Open this product's images")
                                .clicked()
                            {
                                commands.push(Command::SelectProduct(product.id));
                            }
                            ui.label(&product.sku);
                            ui.label(product.image_count.to_string());
                            ui.label(if product.has_thumbnail { "yes" } else { "no" });
                            ui.label(product.pending_edits.to_string());
                            ui.end_row();
                        }
                    });
            });
    }
}

/// The table as CSV (RFC 4180 quoting), in the order shown.
pub fn to_csv(rows: &[&ProductSummary]) -> String {
    let mut out = String::from("product_id,name,sku,images,has_thumbnail,pending_edits\n");
    for p in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            p.id,
            quote(&p.name),
            quote(&p.sku),
            p.image_count,
            p.has_thumbnail,
            p.pending_edits
        ));
    }
    out
}

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: i64, name: &str, images: u64) -> ProductSummary {
        ProductSummary {
            id,
            name: name.into(),
            sku: format!("SKU-{id}"),
            image_count: images,
            has_thumbnail: images > 0,
            pending_edits: 0,
        }
    }

    #[test]
    fn sorts_by_the_chosen_column_and_quotes_csv() {
        let products = vec![
            product(1, "Lamp, large", 3),
            product(2, "Chair \"Oak\"", 9),
            product(3, "Desk", 0),
        ];
        let mut view = CountsView::default();
        let ids: Vec<i64> = view.sorted(&products).iter().map(|p| p.id).collect();
        assert_eq!(ids, [2, 1, 3], "most images first by default");
        view.sort_by = SortBy::Name;
        view.descending = false;
        let ids: Vec<i64> = view.sorted(&products).iter().map(|p| p.id).collect();
        assert_eq!(ids, [2, 3, 1]);
        let csv = to_csv(&view.sorted(&products));
        assert_eq!(
            csv.lines().nth(1),
            Some("2,\"Chair \"\"Oak\"\"\",SKU-2,9,true,0")
        );
        assert_eq!(csv.lines().nth(3), Some("1,\"Lamp, large\",SKU-1,3,true,0"));
    }
}
