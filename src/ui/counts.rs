//! The counts view for support staff: every product with its image count, thumbnail and
//! pending edits in a virtualized table (sortable, resizable columns; rows fetched a page at a
//! time, see `catalogue.rs`), the local copy's totals and how fresh they are, the store-wide
//! total asked of the store, a chart of products by image count, and CSV export.

use egui::RichText;
use egui_extras::{Column, TableBuilder};
use egui_plot::{Bar, BarChart, Plot};

use super::catalogue::{ProductPages, ROW_HEIGHT, Seen, VisibleRows, ago, back_to_top};
use super::command::Command;
use crate::sync::{CatalogueTotals, ProductQuery, ProductSort, ProductSummary};

#[derive(Debug)]
pub struct CountsView {
    pub sort_by: ProductSort,
    pub descending: bool,
    pub export_path: String,
}

impl Default for CountsView {
    fn default() -> Self {
        CountsView {
            sort_by: ProductSort::Images,
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

/// The table's columns: title and the order a click on it asks for.
const COLUMNS: [(&str, ProductSort); 6] = [
    ("Id", ProductSort::Id),
    ("Name", ProductSort::Name),
    ("SKU", ProductSort::Sku),
    ("Images", ProductSort::Images),
    ("Thumbnail", ProductSort::Thumbnail),
    ("Pending", ProductSort::Pending),
];

impl CountsView {
    /// The engine query of the table's order.
    pub fn query(&self) -> ProductQuery {
        ProductQuery {
            search: String::new(),
            sort: self.sort_by,
            descending: self.descending,
        }
    }

    /// A click on a column's header: the same column flips the order; another sorts by it,
    /// counts most first and text A to Z.
    pub fn sort(&mut self, column: ProductSort) {
        if self.sort_by == column {
            self.descending = !self.descending;
        } else {
            self.sort_by = column;
            self.descending = matches!(column, ProductSort::Images | ProductSort::Pending);
        }
    }

    /// Draws the view; returns the rows of the table it drew.
    pub fn counts_ui(
        &mut self,
        ui: &mut egui::Ui,
        rows: &ProductPages,
        totals: Option<&CatalogueTotals>,
        store: &StoreCount,
        commands: &mut Vec<Command>,
    ) -> VisibleRows {
        ui.heading("Image counts");
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
            match totals {
                Some(t) => ui.label(format!(
                    "{} products · {} images in the local copy · {} without a thumbnail · {} edits pending",
                    t.products, t.images, t.without_thumbnail, t.edits_queued
                )),
                None => ui.label("Reading the local copy…"),
            };
        });
        if let Some(totals) = totals {
            freshness_ui(ui, totals);
        }
        ui.horizontal(|ui| {
            let label = ui.label("CSV path");
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut self.export_path)
                        .hint_text("~/counts.csv")
                        .desired_width(260.0),
                )
                .labelled_by(label.id)
                .on_hover_text("A path from your home folder, or an absolute one");
            // Enter in the field does what the button does.
            let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Export CSV").clicked() || entered {
                commands.push(match self.export_path.trim() {
                    "" => Command::ChooseCsvPath,
                    path => Command::ExportCsv(super::typed_path::resolve(path)),
                });
            }
        });
        ui.separator();
        if let Some(totals) = totals {
            chart_ui(ui, totals);
            ui.separator();
        }
        self.table_ui(ui, rows, commands)
    }

    fn table_ui(
        &self,
        ui: &mut egui::Ui,
        rows: &ProductPages,
        commands: &mut Vec<Command>,
    ) -> VisibleRows {
        let total = rows.total().unwrap_or(0);
        let to_top = back_to_top(ui, "counts-table", rows.query_serial());
        let mut table = TableBuilder::new(ui)
            .id_salt("counts-table")
            // Centred, as the painted cells are, so the name lines up with them.
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .striped(true)
            .resizable(true)
            .auto_shrink([false, false])
            .column(Column::initial(70.0).at_least(40.0))
            .column(Column::initial(260.0).at_least(80.0).clip(true))
            .column(Column::initial(130.0).at_least(60.0).clip(true))
            .column(Column::initial(70.0).at_least(50.0))
            .column(Column::initial(80.0).at_least(60.0))
            .column(Column::remainder().at_least(60.0));
        if to_top {
            table = table.vertical_scroll_offset(0.0);
        }
        let mut seen = Seen::default();
        table
            .header(ROW_HEIGHT + 4.0, |mut header| {
                for (title, column) in COLUMNS {
                    header.col(|ui| self.header_ui(ui, title, column, commands));
                }
            })
            .body(|body| {
                body.rows(ROW_HEIGHT, total as usize, |mut row| {
                    let index = row.index() as u64;
                    seen.saw(index);
                    match rows.row(index) {
                        Some(product) => product_row_ui(&mut row, product, commands),
                        None => {
                            row.col(|ui| {
                                ui.weak("…");
                            });
                        }
                    }
                });
            });
        seen.rows()
    }

    fn header_ui(
        &self,
        ui: &mut egui::Ui,
        title: &str,
        column: ProductSort,
        commands: &mut Vec<Command>,
    ) {
        let sorted = self.sort_by == column;
        let hint = if sorted {
            format!(
                "Sorted by {}, {}. Click to reverse.",
                title.to_lowercase(),
                order_words(column, self.descending)
            )
        } else {
            format!("Sort by {}", title.to_lowercase())
        };
        ui.horizontal(|ui| {
            if ui
                .button(RichText::new(title).strong())
                .on_hover_text(hint)
                .clicked()
            {
                commands.push(Command::SortCounts(column));
            }
            if sorted {
                sort_arrow_ui(ui, self.descending);
            }
        });
    }
}

/// How a column is sorted, in words: "most first", "A to Z".
fn order_words(column: ProductSort, descending: bool) -> &'static str {
    match (column, descending) {
        (ProductSort::Name | ProductSort::Sku, false) => "A to Z",
        (ProductSort::Name | ProductSort::Sku, true) => "Z to A",
        (ProductSort::Id, false) => "oldest first",
        (ProductSort::Id, true) => "newest first",
        (ProductSort::Thumbnail, false) => "without a thumbnail first",
        (ProductSort::Thumbnail, true) => "with a thumbnail first",
        (ProductSort::Images | ProductSort::Pending, false) => "fewest first",
        (ProductSort::Images | ProductSort::Pending, true) => "most first",
    }
}

/// A small triangle after the sorted column's title, pointing the way the values go (drawn:
/// egui's bundled proportional font has no arrow glyphs).
fn sort_arrow_ui(ui: &mut egui::Ui, descending: bool) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    let (top, bottom) = (rect.top() + 2.0, rect.bottom() - 2.0);
    let points = if descending {
        vec![
            egui::pos2(rect.left(), top),
            egui::pos2(rect.right(), top),
            egui::pos2(rect.center().x, bottom),
        ]
    } else {
        vec![
            egui::pos2(rect.left(), bottom),
            egui::pos2(rect.center().x, top),
            egui::pos2(rect.right(), bottom),
        ]
    };
    let colour = ui.visuals().strong_text_color();
    ui.painter().add(egui::Shape::convex_polygon(
        points,
        colour,
        egui::Stroke::NONE,
    ));
}

fn product_row_ui(
    row: &mut egui_extras::TableRow<'_, '_>,
    product: &ProductSummary,
    commands: &mut Vec<Command>,
) {
    // Only the name is a widget (it opens the product, and names the row for screen readers
    // and tests); the other cells are painted text: a widget per cell (its layout, response and
    // accessibility node) was most of a frame's cost while scrolling.
    row.col(|ui| cell_text_ui(ui, &product.id.to_string()));
    row.col(|ui| {
        if ui
            .link(&product.name)
            .on_hover_text("Open this product's images")
            .clicked()
        {
            commands.push(Command::SelectProduct(product.id));
        }
    });
    row.col(|ui| cell_text_ui(ui, &product.sku));
    row.col(|ui| cell_text_ui(ui, &product.image_count.to_string()));
    row.col(|ui| cell_text_ui(ui, if product.has_thumbnail { "yes" } else { "no" }));
    row.col(|ui| cell_text_ui(ui, &product.pending_edits.to_string()));
}

/// Text painted at the left of a cell, in the body style, without a widget.
fn cell_text_ui(ui: &mut egui::Ui, text: &str) {
    let rect = ui.max_rect();
    ui.painter().text(
        rect.left_center(),
        egui::Align2::LEFT_CENTER,
        text,
        egui::TextStyle::Body.resolve(ui.style()),
        ui.visuals().text_color(),
    );
}

/// How fresh the counts are: products never read have no count yet, the others are as old as
/// the oldest read of their images.
fn freshness_ui(ui: &mut egui::Ui, totals: &CatalogueTotals) {
    let text = match (totals.never_read, totals.oldest_read) {
        (0, Some(at)) => format!("Counts as of {} at the oldest", ago(at)),
        (0, None) => "Counts of the local copy".to_owned(),
        (n, _) if n == totals.products => {
            format!("{n} products not yet read from the store: their counts may be behind")
        }
        (n, Some(at)) => format!(
            "{n} products not yet read from the store; the others as of {} at the oldest",
            ago(at)
        ),
        (n, None) => format!("{n} products not yet read from the store"),
    };
    let colour = if totals.never_read > 0 {
        ui.visuals().warn_fg_color
    } else {
        ui.visuals().weak_text_color()
    };
    ui.label(RichText::new(text).color(colour));
}

/// Products by number of images: one bar per distinct count, however many products there are.
fn chart_ui(ui: &mut egui::Ui, totals: &CatalogueTotals) {
    let bars: Vec<Bar> = totals
        .by_image_count
        .iter()
        .map(|&(images, products)| {
            Bar::new(images as f64, products as f64).name(bar_name(images, products))
        })
        .collect();
    // One bar per number of images, not per product: a catalogue of 100,000 products has no
    // room for their names, so the axis counts images and each bar says what it holds.
    Plot::new("products-by-image-count")
        .height(120.0)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_drag(false)
        .x_axis_label("images per product")
        .y_axis_label("products")
        .x_axis_formatter(|mark, _range| whole_number_tick(mark.value))
        .y_axis_formatter(|mark, _range| whole_number_tick(mark.value))
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new("Products by number of images", bars).width(0.7));
        });
}

/// A bar's hover text: "3 products have 12 images".
fn bar_name(images: u64, products: u64) -> String {
    let products = match products {
        1 => "1 product has".to_owned(),
        n => format!("{n} products have"),
    };
    match images {
        1 => format!("{products} 1 image"),
        n => format!("{products} {n} images"),
    }
}

/// Axis ticks at whole numbers only: there is no half an image or half a product.
fn whole_number_tick(value: f64) -> String {
    if value >= 0.0 && value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        String::new()
    }
}

/// The first line of the CSV export.
pub const CSV_HEADER: &str = "product_id,name,sku,images,has_thumbnail,pending_edits\n";

/// Rows of the CSV (RFC 4180 quoting), in the order given.
pub fn csv_rows(out: &mut String, rows: &[ProductSummary]) {
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
    fn sort_orders_are_said_in_words_and_the_chart_speaks_of_whole_images_and_products() {
        assert_eq!(order_words(ProductSort::Images, true), "most first");
        assert_eq!(order_words(ProductSort::Name, false), "A to Z");
        assert_eq!(bar_name(12, 3), "3 products have 12 images");
        assert_eq!(bar_name(1, 1), "1 product has 1 image");
        assert_eq!(whole_number_tick(4.0), "4");
        assert_eq!(whole_number_tick(2.5), "");
        assert_eq!(whole_number_tick(-1.0), "");
    }

    #[test]
    fn header_clicks_flip_or_change_the_order_and_csv_is_quoted() {
        let mut view = CountsView::default();
        assert_eq!(
            (view.query().sort, view.query().descending),
            (ProductSort::Images, true),
            "most images first by default"
        );
        view.sort(ProductSort::Name);
        assert_eq!((view.sort_by, view.descending), (ProductSort::Name, false));
        view.sort(ProductSort::Name);
        assert!(view.descending);
        view.sort(ProductSort::Pending);
        assert_eq!(
            (view.sort_by, view.descending),
            (ProductSort::Pending, true)
        );

        let mut csv = String::from(CSV_HEADER);
        csv_rows(
            &mut csv,
            &[product(2, "Chair \"Oak\"", 9), product(1, "Lamp, large", 3)],
        );
        assert_eq!(
            csv.lines().nth(1),
            Some("2,\"Chair \"\"Oak\"\"\",SKU-2,9,true,0")
        );
        assert_eq!(csv.lines().nth(2), Some("1,\"Lamp, large\",SKU-1,3,true,0"));
    }
}
