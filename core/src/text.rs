//! Text bounded for messages, logs and records.

use std::borrow::Cow;

/// `s` cut to at most `limit` bytes at a character boundary, marked with `…`
/// when cut.
pub fn clip(s: &str, limit: usize) -> Cow<'_, str> {
    if s.len() <= limit {
        return Cow::Borrowed(s);
    }
    let mut end = limit.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &s[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_at_a_character_boundary_and_marks_the_cut() {
        assert_eq!(clip("short", 10), "short");
        assert!(matches!(clip("short", 5), Cow::Borrowed("short")));
        let cut = clip("aé€😀bcdefgh", 8);
        assert!(cut.len() <= 8, "{cut}");
        assert!(cut.ends_with('…'), "{cut}");
        assert_eq!(cut, "aé…");
        for limit in 0..20 {
            let s = "😀".repeat(10);
            let c = clip(&s, limit);
            assert!(c.len() <= limit.max('…'.len_utf8()), "{limit}: {c}");
        }
    }
}
