//! A plain, striped table of text rows for the import windows' previews (folder import, CSV
//! import): every column sized to its content but the last, which takes the rest.

use egui_extras::{Column, TableBuilder};

/// Draws `rows` under `headers`; `salt` keeps two tables of one window apart.
pub(super) fn table_ui<const N: usize>(
    ui: &mut egui::Ui,
    salt: &str,
    headers: &[&str; N],
    rows: &[[String; N]],
) {
    ui.push_id(salt, |ui| {
        let mut table = TableBuilder::new(ui).striped(true).vscroll(false);
        for _ in 0..N - 1 {
            table = table.column(Column::auto().at_least(60.0).resizable(true));
        }
        table = table.column(Column::remainder());
        table
            .header(20.0, |mut header| {
                for name in headers {
                    header.col(|ui| {
                        ui.strong(*name);
                    });
                }
            })
            .body(|mut body| {
                for row in rows {
                    body.row(18.0, |mut cells| {
                        for cell in row {
                            cells.col(|ui| {
                                ui.label(cell);
                            });
                        }
                    });
                }
            });
    });
}
