//! The stored name of an image, `{letter}/{3 digits}/{slug}__{5 digits}.{ext}` (SPEC §1): the
//! slug rule is part of the contract, shared by the server and the model store that mimics it.

const MAX_SLUG_CHARS: usize = 64;

/// The slug of a source name: its last path segment without extension, lower-cased, each run of
/// characters outside `[a-z0-9]` turned into one `-`, trimmed of `-`, at most 64 characters.
pub fn slug(source_name: &str) -> String {
    let last = source_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(source_name);
    let stem = match last.rfind('.') {
        Some(dot) if dot > 0 => &last[..dot],
        _ => last,
    };
    let mut slug = String::with_capacity(stem.len());
    for c in stem.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let trimmed: String = slug
        .trim_matches('-')
        .chars()
        .take(MAX_SLUG_CHARS)
        .collect();
    let trimmed = trimmed.trim_end_matches('-');
    if trimmed.is_empty() {
        "image".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_spec() {
        assert_eq!(
            slug("Astonishing X-Men #1 100k.JPG"),
            "astonishing-x-men-1-100k"
        );
        assert_eq!(slug("https://x/a/b/Red_Shoe.png"), "red-shoe");
        assert_eq!(slug(""), "image");
        assert_eq!(slug("..."), "image");
        assert_eq!(slug("--hello--.gif"), "hello");
        assert_eq!(slug(&"a".repeat(100)).len(), 64);
        assert_eq!(slug("Ünïcode ßtuff.webp"), "n-code-tuff");
    }
}
