//! The UI's link to the engine: every call spawns a task on the tokio runtime, and every result
//! comes back as a [`Message`] on a channel that the UI drains once per frame.

use std::future::Future;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, OnceLock};

use tokio::runtime::Handle;

use crate::imaging::{self, BoxSize};
use crate::sync::{Engine, Event, ImageId, LocalImage, ProductSummary, Status, SyncError};

/// The longest side of a decoded grid tile, in pixels.
pub const TILE_PIXELS: u32 = 256;

/// What background work reports to the UI.
pub enum Message {
    Products(Vec<ProductSummary>),
    Images {
        product_id: i64,
        images: Vec<LocalImage>,
    },
    Tile {
        id: ImageId,
        /// What the tile was made from; a new picture has a new key.
        key: String,
        image: Option<egui::ColorImage>,
    },
    Status(Status),
    Event(Event),
    /// An action failed; the text says what to do.
    Error(String),
}

pub struct Backend {
    engine: Arc<Engine>,
    runtime: Handle,
    tx: Sender<Message>,
    rx: Receiver<Message>,
    ctx: Arc<OnceLock<egui::Context>>,
}

impl Backend {
    /// Wraps an engine running on `runtime`, and starts forwarding its events and status.
    pub fn new(engine: Engine, runtime: Handle) -> Backend {
        let (tx, rx) = channel();
        let backend = Backend {
            engine: Arc::new(engine),
            runtime,
            tx,
            rx,
            ctx: Arc::new(OnceLock::new()),
        };
        backend.forward_events();
        backend
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Gives the backend the context to wake when a message arrives (once, on the first frame).
    pub fn attach(&self, ctx: &egui::Context) {
        let _ = self.ctx.set(ctx.clone());
    }

    /// Messages that arrived since the last frame.
    pub fn poll(&self) -> Vec<Message> {
        self.rx.try_iter().collect()
    }

    fn sender(&self) -> Notifier {
        Notifier {
            tx: self.tx.clone(),
            ctx: self.ctx.clone(),
        }
    }

    fn spawn<F>(&self, work: F)
    where
        F: Future<Output = Option<Message>> + Send + 'static,
    {
        let notify = self.sender();
        self.runtime.spawn(async move {
            if let Some(message) = work.await {
                notify.send(message);
            }
        });
    }

    fn forward_events(&self) {
        let notify = self.sender();
        let engine = self.engine.clone();
        let mut events = engine.subscribe();
        let mut status = engine.watch_status();
        self.runtime.spawn(async move {
            loop {
                tokio::select! {
                    event = events.recv() => match event {
                        Ok(Event::StatusChanged) => {}
                        Ok(event) => notify.send(Message::Event(event)),
                        // Fell behind: whatever it missed, a full reload covers.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            notify.send(Message::Event(Event::ProductsChanged));
                        }
                        Err(_) => return,
                    },
                    changed = status.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let now = status.borrow_and_update().clone();
                        notify.send(Message::Status(now));
                    }
                }
            }
        });
        let first = self.engine.status();
        self.sender().send(Message::Status(first));
    }

    pub fn load_products(&self) {
        let engine = self.engine.clone();
        self.spawn(async move { Some(reply(engine.products().await, Message::Products)) });
    }

    pub fn load_images(&self, product_id: i64) {
        let engine = self.engine.clone();
        self.spawn(async move {
            Some(reply(engine.images(product_id).await, |images| {
                Message::Images { product_id, images }
            }))
        });
    }

    /// Fetches (or reads from the cache) and decodes one tile, off the UI thread.
    pub fn load_tile(&self, id: ImageId, key: String) {
        let engine = self.engine.clone();
        self.spawn(async move {
            let bytes = match engine.tile(id).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => {
                    return Some(Message::Tile {
                        id,
                        key,
                        image: None,
                    });
                }
                Err(err) => {
                    tracing::debug!("tile {id}: {err}");
                    return Some(Message::Tile {
                        id,
                        key,
                        image: None,
                    });
                }
            };
            let image = tokio::task::spawn_blocking(move || decode_tile(&bytes))
                .await
                .ok()
                .flatten();
            Some(Message::Tile { id, key, image })
        });
    }

    /// Runs an edit; a failure comes back as [`Message::Error`], success as engine events.
    pub fn edit<F, Fut>(&self, what: &'static str, edit: F)
    where
        F: FnOnce(Arc<Engine>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), SyncError>> + Send + 'static,
    {
        let engine = self.engine.clone();
        self.spawn(async move {
            match edit(engine).await {
                Ok(()) => None,
                Err(err) => Some(Message::Error(format!("Could not {what}: {err}"))),
            }
        });
    }

    pub fn add_files(&self, product_id: i64, paths: Vec<PathBuf>) {
        self.edit("add the file", move |engine| async move {
            for path in paths {
                engine.add_file(product_id, &path, "").await?;
            }
            Ok(())
        });
    }
}

fn reply<T>(result: Result<T, SyncError>, wrap: impl FnOnce(T) -> Message) -> Message {
    match result {
        Ok(value) => wrap(value),
        Err(err) => Message::Error(format!("Could not read the local copy of the store: {err}")),
    }
}

fn decode_tile(bytes: &[u8]) -> Option<egui::ColorImage> {
    let probe = imaging::probe(bytes).ok()?;
    let decoded =
        imaging::decode_to_fit(bytes, probe, BoxSize::new(TILE_PIXELS, TILE_PIXELS)).ok()?;
    let size = [decoded.width as usize, decoded.height as usize];
    Some(match decoded.channels {
        4 => egui::ColorImage::from_rgba_unmultiplied(size, &decoded.pixels),
        3 => egui::ColorImage::from_rgb(size, &decoded.pixels),
        _ => return None,
    })
}

/// Sends a message and wakes the UI.
#[derive(Clone)]
struct Notifier {
    tx: Sender<Message>,
    ctx: Arc<OnceLock<egui::Context>>,
}

impl Notifier {
    fn send(&self, message: Message) {
        if self.tx.send(message).is_ok()
            && let Some(ctx) = self.ctx.get()
        {
            ctx.request_repaint();
        }
    }
}
