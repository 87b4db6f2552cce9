//! Shared by the benches: a real store on loopback holding one product of N images, the
//! server's own request counts, and a small deterministic random generator.
#![allow(dead_code)]

use std::time::Duration;

use imagedesk::api::{Client, Credentials, ImageWrite, NewProduct, RetryPolicy};
use imagedesk::imaging::synthetic;
use imagedesk::server::{Config, RunningServer, Server};

pub const TOKEN: &str = "bench-token";

/// xorshift64: the same pseudo-random script on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

pub fn client(api_url: &str) -> Client {
    Client::with_options(
        api_url,
        Credentials::Token(TOKEN.into()),
        Duration::from_secs(30),
        RetryPolicy::default(),
    )
    .expect("client")
}

/// A real server over a temporary data directory, with one product of `images` images (one
/// small photograph, imported by path, each with its own description).
pub struct SeededStore {
    pub server: RunningServer,
    pub client: Client,
    pub product: i64,
    _data: tempfile::TempDir,
}

pub async fn seeded_store(images: usize, adjust: impl FnOnce(&mut Config)) -> SeededStore {
    let data = tempfile::tempdir().expect("tempdir");
    let import = data.path().join("import");
    std::fs::create_dir_all(&import).expect("import dir");
    let mut config = Config::local(data.path().join("store"), TOKEN);
    config.import_dir = Some(import.clone());
    adjust(&mut config);
    let server = Server::bind(config).await.expect("server").spawn();
    let client = client(&server.api_url());
    std::fs::write(
        import.join("seed.jpg"),
        synthetic::jpeg(&synthetic::photo(160, 120, 5), 85, false, None),
    )
    .expect("seed file");
    let product = client
        .create_product(&NewProduct {
            name: "Bench product".into(),
            sku: "BENCH".into(),
        })
        .await
        .expect("product")
        .id;
    for i in 0..images {
        let write = ImageWrite {
            image_file: Some("seed.jpg".into()),
            description: Some(format!("Studio shot {i}, front view on white")),
            ..ImageWrite::default()
        };
        client
            .create_image(product, &write, None)
            .await
            .expect("seed image");
    }
    SeededStore {
        server,
        client,
        product,
        _data: data,
    }
}

/// `/api/v2` requests the server has answered, from its `/metrics`; only `method`'s if given.
pub async fn requests_counted(base_url: &str, method: Option<&str>) -> u64 {
    let text = reqwest::get(format!("{base_url}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    let method = method.map(|m| format!("method=\"{m}\""));
    text.lines()
        .filter(|l| {
            l.starts_with("imagedesk_http_requests_total{")
                && l.contains("route=\"/api/v2")
                && method.as_ref().is_none_or(|m| l.contains(m.as_str()))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}
