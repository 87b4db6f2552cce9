//! The Reports view: the findings of `imagedesk report` (`sync::findings`) for the whole
//! catalogue, filtered by kind, each row opening its product; a duplicate shows both pictures
//! side by side, a too-small picture its size against the 1280 px zoom box.

use std::collections::{BTreeSet, HashMap};

use egui_extras::{Column, TableBuilder};

use super::command::{Command, View};
use crate::sync::findings::{Finding, FindingDetail, FindingKind, ZOOM_SIDE};
use crate::sync::{ImageId, LocalImage};

/// A report as the engine made it, with what the rows look up: the images the findings name
/// (for their pictures) and the products' names.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub images: HashMap<ImageId, LocalImage>,
    pub names: HashMap<i64, String>,
}

impl From<crate::sync::findings::Report> for Report {
    fn from(report: crate::sync::findings::Report) -> Report {
        let named: std::collections::HashSet<ImageId> = report
            .findings
            .iter()
            .flat_map(|f| {
                let other = match f.detail {
                    FindingDetail::SameAs { image, .. } => Some(image),
                    _ => None,
                };
                f.image.into_iter().chain(other)
            })
            .collect();
        Report {
            images: report
                .images
                .into_values()
                .flatten()
                .filter(|i| named.contains(&i.id))
                .map(|i| (i.id, i))
                .collect(),
            names: report
                .products
                .into_iter()
                .map(|p| (p.id, p.name))
                .collect(),
            findings: report.findings,
        }
    }
}

/// Where the report is.
#[derive(Debug, Clone, Default)]
pub enum ReportState {
    #[default]
    NotRun,
    /// Pictures compared so far (each needs its thumbnail once; later runs reuse the hashes).
    Running {
        done: usize,
        total: usize,
    },
    Ready(Report),
    Failed(String),
}

/// The view's own state: which kinds are shown.
#[derive(Debug)]
pub struct ReportsView {
    pub state: ReportState,
    pub hidden: BTreeSet<FindingKind>,
}

impl Default for ReportsView {
    fn default() -> Self {
        ReportsView {
            state: ReportState::NotRun,
            hidden: BTreeSet::new(),
        }
    }
}

/// A kind as the view names it.
pub fn kind_words(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::NoImages => "No pictures",
        FindingKind::NoThumbnail => "No thumbnail",
        FindingKind::NoAltText => "No alt text",
        FindingKind::TooSmall => "Too small to zoom",
        FindingKind::Duplicate => "Same picture twice",
    }
}

const ROW_HEIGHT: f32 = 52.0;
const PICTURE: f32 = 44.0;

impl ReportsView {
    /// Draws the view. `picture` gives an image's tile when it is loaded (asking for it
    /// otherwise).
    pub fn reports_ui(
        &mut self,
        ui: &mut egui::Ui,
        picture: &mut dyn FnMut(&LocalImage) -> Option<egui::TextureHandle>,
        commands: &mut Vec<Command>,
    ) {
        ui.horizontal_wrapped(|ui| {
            let running = matches!(self.state, ReportState::Running { .. });
            let label = match self.state {
                ReportState::NotRun => "Run the report",
                _ => "Run it again",
            };
            if ui
                .add_enabled(!running, egui::Button::new(label))
                .on_hover_text("Looks through every product of the local copy; comparing pictures needs each one's thumbnail once")
                .clicked()
            {
                commands.push(Command::RunReport);
            }
            match &self.state {
                ReportState::NotRun => {
                    ui.label("Finds products without pictures or thumbnail, pictures without alt text, pictures too small to zoom, and the same picture twice in a product.");
                }
                ReportState::Running { done, total } => {
                    ui.add(
                        egui::ProgressBar::new(if *total == 0 { 0.0 } else { *done as f32 / *total as f32 })
                            .desired_width(200.0)
                            .text(format!("Comparing pictures: {done} of {total}")),
                    );
                }
                ReportState::Failed(why) => {
                    ui.colored_label(ui.visuals().error_fg_color, format!("The report could not be made: {why}"));
                }
                ReportState::Ready(report) => {
                    ui.label(format!("{} findings", report.findings.len()));
                }
            }
        });
        // The report is borrowed, not copied, each frame: only the filters change here.
        let ReportsView { state, hidden } = self;
        let ReportState::Ready(report) = &*state else {
            return;
        };
        ui.horizontal_wrapped(|ui| {
            ui.label("Show:");
            for kind in FindingKind::ALL {
                let count = report.findings.iter().filter(|f| f.kind == kind).count();
                let mut on = !hidden.contains(&kind);
                if ui
                    .checkbox(&mut on, format!("{} ({count})", kind_words(kind)))
                    .changed()
                {
                    if on {
                        hidden.remove(&kind);
                    } else {
                        hidden.insert(kind);
                    }
                }
            }
        });
        ui.separator();
        let shown: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| !hidden.contains(&f.kind))
            .collect();
        if shown.is_empty() {
            ui.label(if report.findings.is_empty() {
                "Nothing to report: every product has pictures, a thumbnail and alt text."
            } else {
                "No finding of the kinds shown."
            });
            return;
        }
        TableBuilder::new(ui)
            .striped(true)
            .column(Column::auto().at_least(140.0))
            .column(Column::initial(220.0).at_least(120.0).clip(true))
            .column(Column::auto().at_least(80.0))
            .column(Column::remainder().at_least(200.0))
            .column(Column::auto())
            .header(22.0, |mut header| {
                for title in ["Finding", "Product", "SKU", "What", ""] {
                    header.col(|ui| {
                        ui.strong(title);
                    });
                }
            })
            .body(|body| {
                body.rows(ROW_HEIGHT, shown.len(), |mut row| {
                    let finding = &shown[row.index()];
                    let name = report
                        .names
                        .get(&finding.product_id)
                        .cloned()
                        .unwrap_or_else(|| format!("Product {}", finding.product_id));
                    row.col(|ui| {
                        ui.label(kind_words(finding.kind));
                    });
                    row.col(|ui| {
                        ui.label(&name);
                    });
                    row.col(|ui| {
                        ui.label(&finding.sku);
                    });
                    row.col(|ui| {
                        what_ui(ui, finding, report, picture);
                    });
                    row.col(|ui| {
                        if ui
                            .button("Open")
                            .on_hover_text(format!("Show the pictures of {name}"))
                            .clicked()
                        {
                            commands.push(Command::SelectProduct(finding.product_id));
                            commands.push(Command::ShowView(View::Images));
                        }
                    });
                });
            });
    }
}

/// The finding's detail: pictures for a duplicate, the size against the zoom box.
fn what_ui(
    ui: &mut egui::Ui,
    finding: &Finding,
    report: &Report,
    picture: &mut dyn FnMut(&LocalImage) -> Option<egui::TextureHandle>,
) {
    let image_name = |id: Option<i64>| {
        id.map_or_else(
            || "a picture not sent yet".to_owned(),
            |id| format!("image {id}"),
        )
    };
    ui.horizontal(|ui| match &finding.detail {
        FindingDetail::Nothing => {
            if finding.image.is_some() {
                if let Some(image) = finding.image.and_then(|id| report.images.get(&id)) {
                    thumbnail_ui(ui, image, picture);
                }
                ui.label(image_name(finding.image_id));
            }
        }
        FindingDetail::Size { width, height } => {
            if let Some(image) = finding.image.and_then(|id| report.images.get(&id)) {
                thumbnail_ui(ui, image, picture);
            }
            let longer = (*width).max(*height);
            ui.vertical(|ui| {
                ui.label(format!(
                    "{} is {width} × {height} px",
                    image_name(finding.image_id)
                ));
                ui.add(
                    egui::ProgressBar::new(longer as f32 / ZOOM_SIDE as f32)
                        .desired_width(160.0)
                        .text(format!("{longer} of the {ZOOM_SIDE} px zoom box")),
                );
            });
        }
        FindingDetail::SameAs { image, image_id } => {
            for id in [finding.image, Some(*image)].into_iter().flatten() {
                if let Some(shown) = report.images.get(&id) {
                    thumbnail_ui(ui, shown, picture);
                }
            }
            ui.label(format!(
                "{} shows the same picture as {}",
                image_name(finding.image_id),
                image_name(*image_id)
            ));
        }
    });
}

fn thumbnail_ui(
    ui: &mut egui::Ui,
    image: &LocalImage,
    picture: &mut dyn FnMut(&LocalImage) -> Option<egui::TextureHandle>,
) {
    let size = egui::vec2(PICTURE, PICTURE);
    match picture(image) {
        Some(texture) => {
            ui.add(egui::Image::new(&texture).fit_to_exact_size(size));
        }
        None => {
            let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
            ui.painter()
                .rect_filled(rect, 4.0, ui.visuals().faint_bg_color);
        }
    }
}
