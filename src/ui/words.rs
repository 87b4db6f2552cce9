//! What went wrong, in the words of a person who sells things rather than of HTTP: the store's
//! own reason is kept (it is the useful part) and the technical wrapping is moved to "Details".

/// Whether a raw error means the store did not answer at all (refused connection, DNS, timeout).
pub fn unreachable(raw: &str) -> bool {
    let raw = raw.to_ascii_lowercase();
    [
        "could not reach the store",
        "connection refused",
        "os error 111",
        "error trying to connect",
        "timed out",
        "dns error",
    ]
    .iter()
    .any(|needle| raw.contains(needle))
}

/// The store's own reason inside a raw refusal ("the store refused the request (HTTP 400):
/// image_file: not a picture" → "image_file: not a picture"), with field names said plainly.
pub fn store_reason(raw: &str) -> String {
    let reason = match raw.find("(HTTP ") {
        Some(at) => raw[at..]
            .split_once("): ")
            .map_or(raw, |(_, rest)| rest)
            .trim(),
        None => raw.trim(),
    };
    let reason = reason.trim_end_matches('.');
    plain_fields(reason)
}

/// The API's field names, as the app's labels call them.
fn plain_fields(text: &str) -> String {
    [
        ("image_file", "picture file"),
        ("image_url", "picture URL"),
        ("sort_order", "position"),
        ("is_thumbnail", "thumbnail"),
    ]
    .iter()
    .fold(text.to_owned(), |text, (field, plain)| {
        text.replace(field, plain)
    })
}

/// What a refused add says: "The store refused the picture: <reason>", or that the store could
/// not be reached.
pub fn refused_picture(raw: &str) -> String {
    if unreachable(raw) {
        return "The store could not be reached.".to_owned();
    }
    format!("The store refused the picture: {}.", store_reason(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_keeps_the_stores_reason_without_http() {
        let raw = "the store refused the request (HTTP 400): image_file could not be decoded (not a JPEG)";
        assert_eq!(
            refused_picture(raw),
            "The store refused the picture: picture file could not be decoded (not a JPEG)."
        );
        assert_eq!(
            refused_picture(
                "could not reach the store: tcp connect error: Connection refused (os error 111)"
            ),
            "The store could not be reached."
        );
    }
}
