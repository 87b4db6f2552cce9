//! The side panels, tool bar and status bar.

use egui::RichText;

use egui_extras::{Column, TableBuilder};

use super::catalogue::{ProductPages, ROW_HEIGHT, Seen, VisibleRows, ago, back_to_top};
use super::command::Command;
use super::words;
use crate::sync::{Connection, LocalImage, OutboxEntry, ProductSummary, Status, SyncState};

/// The keys of "Retry now" (applied in `app.rs`), as its hover text names them.
pub const RETRY_SHORTCUT: &str = "Ctrl+R";

/// Which rows of the product list are highlighted.
#[derive(Clone, Copy)]
pub enum Highlighted<'a> {
    /// The product shown, if any.
    Shown(Option<i64>),
    /// Two or more products selected for a bulk edit (`product_selection.rs`).
    Several(&'a std::collections::BTreeSet<i64>),
}

/// The product list: a search field (each keystroke asks the engine; see `catalogue.rs`) over
/// a virtualized table of the matching products. A click asks to show that product. Returns the
/// rows it drew.
pub fn products_ui(
    ui: &mut egui::Ui,
    rows: &ProductPages,
    search: &mut String,
    selected: Highlighted<'_>,
    failed: impl Fn(i64) -> u64,
    held: impl Fn(i64) -> u64,
    commands: &mut Vec<Command>,
) -> VisibleRows {
    ui.heading("Products");
    let label = ui.label("Search products");
    let field = ui
        .add(
            egui::TextEdit::singleline(search)
                .hint_text("name, SKU or id")
                .desired_width(f32::INFINITY),
        )
        .labelled_by(label.id);
    if field.changed() {
        commands.push(Command::SearchProducts(search.clone()));
    }
    ui.label(
        RichText::new(match (rows.total(), rows.query().search.is_empty()) {
            (None, _) => "Reading…".to_owned(),
            (Some(1), true) => "1 product".to_owned(),
            (Some(n), true) => format!("{n} products"),
            (Some(1), false) => "1 match".to_owned(),
            (Some(n), false) => format!("{n} matches"),
        })
        .small()
        .color(ui.visuals().weak_text_color()),
    );
    if let Highlighted::Several(several) = selected {
        ui.strong(format!("{} products selected", several.len()));
    }
    ui.separator();
    let to_top = back_to_top(ui, "product-list", rows.query_serial());
    let mut table = TableBuilder::new(ui)
        .id_salt("product-list")
        .auto_shrink([false, false])
        .column(Column::remainder().clip(true));
    if to_top {
        table = table.vertical_scroll_offset(0.0);
    }
    let mut seen = Seen::default();
    let total = rows.total().unwrap_or(0) as usize;
    table.body(|body| {
        body.rows(ROW_HEIGHT, total, |mut row| {
            let index = row.index() as u64;
            seen.saw(index);
            let product = rows.row(index);
            row.col(|ui| match product {
                Some(product) => {
                    // With several selected, they are the highlighted rows.
                    let highlighted = match selected {
                        Highlighted::Several(several) => several.contains(&product.id),
                        Highlighted::Shown(shown) => shown == Some(product.id),
                    };
                    let response = ui
                        .selectable_label(
                            highlighted,
                            product_label(product, failed(product.id), held(product.id)),
                        )
                        .on_hover_text("Ctrl+click or Shift+click to select several");
                    if response.clicked() {
                        let (add, extend) = ui.input(|i| (i.modifiers.command, i.modifiers.shift));
                        commands.push(Command::ClickProduct {
                            id: product.id,
                            index,
                            add,
                            extend,
                        });
                    }
                }
                // Not fetched yet: a placeholder of the row's height, so nothing jumps.
                None => {
                    ui.weak("…");
                }
            });
        });
    });
    seen.rows()
}

/// "Lamp (3) · no thumbnail · 2 pending · 1 failed": a row of the product list. `failed` of
/// the product's queued edits were refused: they are counted apart, as the status bar does.
/// `held` of its images are deleted and wait in the Undo toast: the grid no longer shows them,
/// so neither does the count.
fn product_label(product: &ProductSummary, failed: u64, held: u64) -> String {
    let count = product.image_count.saturating_sub(held);
    let mut text = format!("{} ({count})", product.name);
    if !product.has_thumbnail && count > 0 {
        text.push_str(" · no thumbnail");
    }
    let failed = failed.min(product.pending_edits);
    let pending = product.pending_edits - failed;
    if pending > 0 {
        text.push_str(&format!(" · {pending} pending"));
    }
    if failed > 0 {
        text.push_str(&format!(" · {failed} failed"));
    }
    text
}

/// The image the details panel shows, and whether it is the product's first.
pub struct Detailed<'a> {
    pub image: &'a LocalImage,
    pub is_first: bool,
}

/// The focused image's details: description editor, thumbnail, "Move to first", preview,
/// replacement, facts. An image the store refused says why, with Retry and Discard (`failed`:
/// its refused edit); when it is a refused add, the picture is not in the store and offers no
/// other edits.
pub fn details_ui(
    ui: &mut egui::Ui,
    Detailed { image, is_first }: Detailed<'_>,
    draft: &mut String,
    failed: Option<&OutboxEntry>,
    replace_path: &mut String,
    files_refused: Option<&str>,
    commands: &mut Vec<Command>,
) {
    ui.heading("Details");
    ui.separator();
    if let SyncState::Failed(reason) = &image.sync {
        refused_ui(ui, image, reason, failed, commands);
        if image.server_id.is_none() {
            // Nothing to describe or make the thumbnail: the store never took the picture.
            return;
        }
        ui.separator();
    }
    let label = ui.label("Description (alt text)");
    let editor = ui
        .add(egui::TextEdit::multiline(draft).desired_rows(3))
        .labelled_by(label.id)
        .on_hover_text("Saved when you leave the field; Esc drops what you typed");
    // Like a form that saves on blur: typing is never lost by clicking elsewhere.
    if editor.lost_focus() {
        commands.push(if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
            Command::RevertDescription
        } else {
            Command::CommitDescription
        });
    }
    // Wrapped: the three buttons are wider than the fixed-width panel, and a row that does
    // not fit would push the whole panel's content out of sight.
    ui.horizontal_wrapped(|ui| {
        let changed = *draft != image.description;
        if ui
            .add_enabled(changed, egui::Button::new("Save description"))
            .clicked()
        {
            commands.push(Command::SaveDescription {
                id: image.id,
                text: draft.clone(),
            });
        }
        if ui
            .add_enabled(!image.is_thumbnail, egui::Button::new("Set as thumbnail"))
            .clicked()
        {
            commands.push(Command::SetThumbnail(image.id));
        }
        // The grid's menu item and the Home key, for those who look here: the same move.
        if ui
            .add_enabled(!is_first, egui::Button::new("Move to first"))
            .on_hover_text("Put it first, the picture shoppers see first (Home)")
            .on_disabled_hover_text("It is the first image already")
            .clicked()
        {
            commands.push(Command::MoveTo {
                dragged: image.id,
                slot: 0,
            });
        }
        if ui
            .button("Copy to other products…")
            .on_hover_text(
                "Add copies of the picture (or the selected ones) to other products (Ctrl+Shift+C)",
            )
            .clicked()
        {
            commands.push(Command::ShowCopyPicker(Some(image.id)));
        }
    });
    if ui
        .button("Preview")
        .on_hover_text("Show it large (double-click, Enter)")
        .clicked()
    {
        commands.push(Command::Preview(image.id));
    }
    ui.separator();
    let label = ui.label("Replacement file path");
    let files_ok = files_refused.is_none();
    ui.add_enabled(
        files_ok,
        egui::TextEdit::singleline(replace_path).desired_width(f32::INFINITY),
    )
    .labelled_by(label.id);
    ui.horizontal(|ui| {
        if ui
            .add_enabled(files_ok, egui::Button::new("Replace picture"))
            .on_hover_text("Upload the file at this path in place of the picture, keeping its place and description")
            .on_disabled_hover_text(files_refused.unwrap_or_default())
            .clicked()
        {
            commands.push(match replace_path.trim() {
                "" => Command::ChooseReplacement(image.id),
                path => Command::Replace {
                    id: image.id,
                    path: path.into(),
                },
            });
        }
    });
    ui.separator();
    egui::Grid::new("image-facts")
        .num_columns(2)
        .show(ui, |ui| {
            if let (Some(w), Some(h)) = (image.width, image.height) {
                ui.label("Size");
                ui.label(format!("{w} × {h} px"));
                ui.end_row();
            }
            if let Some(bytes) = image.file_size {
                ui.label("File");
                ui.label(format!("{:.1} KiB", bytes as f64 / 1024.0));
                ui.end_row();
            }
            ui.label("Store id");
            ui.label(
                image
                    .server_id
                    .map_or_else(|| "not uploaded yet".to_owned(), |id| id.to_string()),
            )
            .on_hover_text(format!("Stored as {}", image.image_file));
            ui.end_row();
        });
    for (name, url) in [
        ("zoom", &image.zoom_url),
        ("standard", &image.standard_url),
        ("thumbnail", &image.thumbnail_url),
        ("tiny", &image.tiny_url),
    ] {
        if let Some(url) = url {
            ui.hyperlink_to(name, url);
        }
    }
}

/// Why the store refused the image's edit, in plain words (the raw reason under "Details"),
/// with Retry and Discard.
fn refused_ui(
    ui: &mut egui::Ui,
    image: &LocalImage,
    reason: &str,
    failed: Option<&OutboxEntry>,
    commands: &mut Vec<Command>,
) {
    let raw = failed.and_then(|e| e.failed.as_deref()).unwrap_or(reason);
    let said = if image.server_id.is_none() {
        words::refused_picture(raw)
    } else if words::unreachable(raw) {
        "The store could not be reached.".to_owned()
    } else {
        format!(
            "The store refused the change: {}.",
            words::store_reason(raw)
        )
    };
    ui.colored_label(ui.visuals().error_fg_color, said);
    egui::CollapsingHeader::new("Technical details")
        .id_salt(("refused-details", image.id))
        .show(ui, |ui| {
            ui.label(RichText::new(raw).small().monospace());
        });
    let seq = failed.map(|e| e.seq);
    ui.horizontal(|ui| {
        let retry = ui
            .add_enabled(seq.is_some(), egui::Button::new("Retry"))
            .on_hover_text("Send it to the store again");
        if let (true, Some(seq)) = (retry.clicked(), seq) {
            commands.push(Command::RetryEdit(seq));
        }
        let hint = if image.server_id.is_none() {
            "Give up this picture: it leaves the grid"
        } else {
            "Give up this change: the store's value comes back"
        };
        let discard = ui
            .add_enabled(seq.is_some(), egui::Button::new("Discard"))
            .on_hover_text(hint);
        if let (true, Some(seq)) = (discard.clicked(), seq) {
            commands.push(Command::DiscardEdit(seq));
        }
    });
}

/// The store's image total as the status bar says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreTotal {
    /// Counted by the store.
    Store(u64),
    /// The sum of the local copy (the store did not answer the count).
    Local(u64),
}

/// The status bar: connection, queue, last sync, store total; "Retry now" when edits wait on a
/// store that does not answer, and the records that could not be read.
pub fn status_ui(
    ui: &mut egui::Ui,
    status: &Status,
    store_images: Option<StoreTotal>,
    unreadable: usize,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        let waiting = waiting(status);
        let error_on_hover = waiting.is_some();
        match waiting {
            Some(waiting) => {
                let label = ui.label(RichText::new(waiting).color(egui::Color32::LIGHT_RED));
                if let Some(error) = &status.last_error {
                    label.on_hover_text(error);
                }
                if ui
                    .button("Retry now")
                    .on_hover_text(format!(
                        "Try the store again now instead of waiting ({RETRY_SHORTCUT})"
                    ))
                    .clicked()
                {
                    commands.push(Command::RetryNow);
                }
            }
            None => {
                let (text, colour) = match status.connection {
                    Connection::Online => ("online", egui::Color32::LIGHT_GREEN),
                    Connection::Syncing => ("syncing", egui::Color32::LIGHT_BLUE),
                    Connection::Offline => ("offline", egui::Color32::LIGHT_RED),
                    Connection::Unknown => ("connecting", ui.visuals().weak_text_color()),
                };
                let label = ui.label(RichText::new(text).color(colour));
                if let Some(error) = &status.last_error {
                    label.on_hover_text(error);
                }
                if status.paused {
                    ui.label("(paused)");
                }
                ui.separator();
                if ui
                    .link(format!("{} pending", status.pending))
                    .on_hover_text("List the changes waiting to be sent")
                    .clicked()
                {
                    commands.push(Command::ShowPending);
                }
            }
        }
        // Held edits wait for the person, not for the store: said apart, in the warning colour,
        // so they are found without opening the list.
        if status.held > 0
            && ui
                .link(
                    RichText::new(format!("{} held", status.held))
                        .color(ui.visuals().warn_fg_color),
                )
                .on_hover_text(
                    "The store changed these too: choose Keep mine or Use the store's for each",
                )
                .clicked()
        {
            commands.push(Command::ShowPending);
        }
        if status.failed > 0
            && ui
                .link(
                    RichText::new(format!("{} failed", status.failed))
                        .color(egui::Color32::LIGHT_RED),
                )
                .on_hover_text("List the changes the store refused, to retry or discard them")
                .clicked()
        {
            commands.push(Command::ShowPending);
        }
        ui.separator();
        ui.label(match status.last_sync {
            Some(at) => format!("last sync {}", ago(at)),
            None => "not synced yet".to_owned(),
        });
        ui.separator();
        match store_images {
            Some(StoreTotal::Store(count)) => {
                ui.label(format!("{count} images in the store"));
            }
            // The local sum is not the store's count: said so, most of all while offline.
            Some(StoreTotal::Local(count)) if status.connection == Connection::Offline => {
                ui.label(format!(
                    "{count} images in the store (local count, offline)"
                ));
            }
            Some(StoreTotal::Local(count)) => {
                ui.label(format!("{count} images in the store (local count)"));
            }
            None => {}
        }
        if unreadable > 0 {
            ui.separator();
            let text = match unreadable {
                1 => "1 record could not be read".to_owned(),
                n => format!("{n} records could not be read"),
            };
            if ui
                .link(RichText::new(text).color(ui.visuals().warn_fg_color))
                .on_hover_text("The store sent records imagedesk cannot read; click to list them")
                .clicked()
            {
                commands.push(Command::ShowUnreadable);
            }
        }
        // When edits wait, their label carries the error on hover; said once is enough.
        if let Some(error) = &status.last_error
            && !error_on_hover
        {
            ui.separator();
            ui.label(RichText::new(error).small()).on_hover_text(error);
        }
    });
}

/// What the status bar says instead of "online · N pending" when edits wait on a store that
/// does not take them: offline, or the last round failed. `None` when nothing waits on it.
pub fn waiting(status: &Status) -> Option<String> {
    if status.pending == 0 {
        return None;
    }
    let edits = match status.pending {
        1 => "1 edit waits".to_owned(),
        n => format!("{n} edits wait"),
    };
    let paused = if status.paused { " (paused)" } else { "" };
    match status.connection {
        Connection::Offline => Some(format!("offline — {edits}{paused}")),
        _ if status.last_error.is_some() => Some(format!("the last sync failed — {edits}{paused}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(connection: Connection, pending: u64, error: Option<&str>) -> Status {
        Status {
            connection,
            pending,
            last_error: error.map(str::to_owned),
            ..Status::default()
        }
    }

    #[test]
    fn edits_waiting_on_an_offline_store_are_said_plainly() {
        let offline = status(Connection::Offline, 2, Some("connection refused"));
        assert_eq!(waiting(&offline).as_deref(), Some("offline — 2 edits wait"));
        let one = status(Connection::Offline, 1, None);
        assert_eq!(waiting(&one).as_deref(), Some("offline — 1 edit waits"));
        let failed = status(Connection::Online, 3, Some("500"));
        assert_eq!(
            waiting(&failed).as_deref(),
            Some("the last sync failed — 3 edits wait")
        );
    }

    #[test]
    fn the_bar_offers_retry_now_and_the_unreadable_records() {
        use egui_kittest::kittest::Queryable as _;
        let offline = status(Connection::Offline, 2, Some("connection refused"));
        let mut harness = egui_kittest::Harness::new_ui_state(
            |ui, commands: &mut Vec<Command>| {
                status_ui(ui, &offline, Some(StoreTotal::Local(5)), 3, commands)
            },
            Vec::new(),
        );
        harness.get_by_label("offline — 2 edits wait");
        harness.get_by_label("5 images in the store (local count, offline)");
        harness.get_by_label("Retry now").click();
        harness.run();
        harness.get_by_label("3 records could not be read").click();
        harness.run();
        assert_eq!(
            harness.state(),
            &[Command::RetryNow, Command::ShowUnreadable]
        );

        let online = status(Connection::Online, 0, None);
        let harness = egui_kittest::Harness::new_ui_state(
            |ui, commands: &mut Vec<Command>| {
                status_ui(ui, &online, Some(StoreTotal::Store(5)), 0, commands)
            },
            Vec::new(),
        );
        harness.get_by_label("online");
        harness.get_by_label("0 pending");
        assert!(harness.query_by_label("Retry now").is_none());
        assert!(
            harness
                .query_by_label_contains("could not be read")
                .is_none()
        );
    }

    #[test]
    fn nothing_waits_on_a_store_that_answers_or_with_an_empty_queue() {
        assert_eq!(waiting(&status(Connection::Online, 4, None)), None);
        assert_eq!(waiting(&status(Connection::Syncing, 4, None)), None);
        assert_eq!(waiting(&status(Connection::Offline, 0, Some("down"))), None);
    }
}
