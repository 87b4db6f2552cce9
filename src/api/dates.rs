//! The store's dates: RFC 2822 with `+0000` as the v2 API sends them, ISO 8601 as some stores
//! and filters accept. The sync engine compares products' `date_modified` as instants, never
//! as strings (two spellings of one instant must compare equal).

/// Seconds since the Unix epoch of an RFC 2822 or ISO 8601 (RFC 3339) date; `None` for
/// anything else (an empty string, a store's own format).
pub fn parse_store_date(text: &str) -> Option<i64> {
    let text = text.trim();
    chrono::DateTime::parse_from_rfc2822(text)
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|date| date.timestamp())
}

/// The RFC 2822 spelling the v2 API uses: `Fri, 21 Dec 2012 18:54:04 +0000`.
pub fn format_store_date(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_one_instant_are_equal_and_round_trip() {
        let rfc = "Fri, 21 Dec 2012 18:54:04 +0000";
        let iso = "2012-12-21T18:54:04+00:00";
        assert_eq!(parse_store_date(rfc), parse_store_date(iso));
        let seconds = parse_store_date(rfc).unwrap();
        assert_eq!(format_store_date(seconds), rfc);
        assert_eq!(parse_store_date(""), None);
        assert_eq!(parse_store_date("yesterday"), None);
    }
}
