//! The one redaction of the token. Every line the entrypoint prints (log lines, the error line,
//! the `check` report, clap's help and usage errors, the supervisor's notes) goes through
//! [`redact`] on its way out (see [`crate::output`]); server text is also redacted where it is
//! read (`whoami::answer`), with [`redact_with`], the same function.
//!
//! What is caught, wherever it appears and in any letter case:
//! - any piece of 8 or more characters of a registered secret (the token as given in
//!   `SYSTEMPROMPT_API_TOKEN`, the contents of `SYSTEMPROMPT_API_TOKEN_FILE`): so the whole
//!   token, each of its `.`-separated parts, the JWT without its prefix, a 20-character quote,
//!   and all of them lowercased or uppercased by whatever repeated them. Only pieces wholly
//!   inside a non-secret prefix such as `sp_live_` are left alone (the prefix names the kind of
//!   token, not the token). A secret wrapped by a line break counts as the joined value, so
//!   each of its lines is caught too.
//! - anything shaped like a JWT (a header of 16 or more characters starting `eyJ`, then a
//!   payload and a signature, `.`-separated base64url), registered or not: a token pasted
//!   where it does not belong is withheld even before it is known.
//!
//! Each maximal stretch that matched becomes `***`. The matching is on bytes, ASCII letters
//! folded to lower case; the output keeps whole characters (a match is widened to character
//! boundaries), so it is always valid UTF-8.

use std::borrow::Cow;
use std::sync::RwLock;

/// The shortest piece of a secret that is withheld.
pub const MIN_PIECE: usize = 8;

/// What a withheld stretch is replaced with.
pub const MASK: &str = "***";

/// A set of secrets to withhold: every [`MIN_PIECE`]-byte window of each, ASCII-lowercased,
/// as a sorted list of 64-bit words (a binary search per byte of text: no hashing, which
/// would cost more than the rest of a bootstrap's own code).
#[derive(Default, Clone)]
pub struct Redactor {
    windows: Vec<u64>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} windows)", self.windows.len())
    }
}

impl Redactor {
    /// An empty redactor (it still withholds JWT-shaped text).
    pub fn new() -> Self {
        Self::default()
    }

    /// A redactor for one secret.
    pub fn with_secret(secret: &str) -> Self {
        let mut r = Self::new();
        r.add(secret);
        r
    }

    /// Whether no secret has been added.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Add a secret. Whitespace and control characters inside it are dropped first (a token
    /// wrapped by a line break is still the token; each of its lines is a piece of it). A
    /// secret already covered (the same token registered again) costs a lookup per window.
    pub fn add(&mut self, secret: &str) {
        let chunk = joined(secret);
        let windows = secret_windows(&chunk);
        let new: Vec<u64> = windows
            .filter(|w| self.windows.binary_search(w).is_err())
            .collect();
        if !new.is_empty() {
            self.windows.extend(new);
            self.windows.sort_unstable();
            self.windows.dedup();
        }
    }

    fn holds(&self, w: &[u8]) -> bool {
        self.windows.binary_search(&fold(w)).is_ok()
    }

    /// Whether `text` holds anything this redactor withholds.
    pub fn matches(&self, text: &str) -> bool {
        !self.ranges(text).is_empty()
    }

    /// Whether `text` holds a piece of 8 or more characters of an added secret, in any letter
    /// case (JWT-shaped text alone does not count).
    pub fn holds_piece(&self, text: &str) -> bool {
        !self.windows.is_empty() && text.as_bytes().windows(MIN_PIECE).any(|w| self.holds(w))
    }

    /// `text` with every withheld stretch replaced by [`MASK`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        masked(text, &self.ranges(text))
    }

    /// The merged byte ranges to withhold, widened to character boundaries, in order.
    fn ranges(&self, text: &str) -> Vec<(usize, usize)> {
        ranges_with(text, !self.windows.is_empty(), |w| self.holds(w))
    }
}

impl Drop for Redactor {
    fn drop(&mut self) {
        // The windows spell the secret: wiped like `token::Secret`.
        self.windows.fill(0);
        std::hint::black_box(&mut self.windows);
    }
}

/// `secret` without whitespace and control characters (borrowed when it has none).
fn joined(secret: &str) -> Cow<'_, str> {
    // A token is printable ASCII: only anything else needs the per-character look.
    let plain = secret.bytes().all(|b| b.is_ascii_graphic());
    if !plain && secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Cow::Owned(
            secret
                .chars()
                .filter(|c| !c.is_whitespace() && !c.is_control())
                .collect(),
        )
    } else {
        Cow::Borrowed(secret)
    }
}

/// Where the secret part of `chunk` starts: a prefix before the JWT (`sp_live_`) is not
/// secret. Without a JWT (a malformed value), a leading `word_word_` still counts as a prefix.
fn secret_start(chunk: &str) -> usize {
    chunk.find("eyJ").unwrap_or_else(|| {
        let run = chunk
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        chunk[..run].rfind('_').map_or(0, |i| i + 1)
    })
}

/// The folded windows of `chunk` that reach into its secret part.
fn secret_windows(chunk: &str) -> impl Iterator<Item = u64> + '_ {
    let start = secret_start(chunk);
    chunk
        .as_bytes()
        .windows(MIN_PIECE)
        .enumerate()
        .filter(move |(i, _)| i + MIN_PIECE > start)
        .map(|(_, w)| fold(w))
}

/// The merged byte ranges of `text` to withhold: the windows `holds` recognises (when
/// `any_secret`), and JWT-shaped stretches; widened to character boundaries, in order.
fn ranges_with(text: &str, any_secret: bool, holds: impl Fn(&[u8]) -> bool) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut found: Vec<(usize, usize)> = Vec::new();
    if any_secret && bytes.len() >= MIN_PIECE {
        for (i, w) in bytes.windows(MIN_PIECE).enumerate() {
            if holds(w) {
                push_merged(&mut found, (i, i + MIN_PIECE));
            }
        }
    }
    found.extend(jwt_shaped(bytes));
    found.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(found.len());
    for (start, end) in found {
        let start = floor_boundary(text, start);
        let end = ceil_boundary(text, end);
        push_merged(&mut merged, (start, end));
    }
    merged
}

/// `text` with each of `ranges` (merged, in order, on character boundaries) replaced by [`MASK`].
fn masked<'a>(text: &'a str, ranges: &[(usize, usize)]) -> Cow<'a, str> {
    if ranges.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for &(start, end) in ranges {
        out.push_str(&text[at..start]);
        out.push_str(MASK);
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// Add `r` to `ranges` (sorted by start), merging it with the last one when they touch.
fn push_merged(ranges: &mut Vec<(usize, usize)>, r: (usize, usize)) {
    match ranges.last_mut() {
        Some(last) if r.0 <= last.1 => last.1 = last.1.max(r.1),
        _ => ranges.push(r),
    }
}

/// A window as one word, ASCII letters lowercased (eight bytes at once: a byte is an upper-case
/// letter when it is ASCII, at least `A` and not above `Z`; adding 0x20 to those lowers them).
fn fold(w: &[u8]) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut k = [0u8; MIN_PIECE];
    let n = w.len().min(MIN_PIECE);
    k[..n].copy_from_slice(&w[..n]);
    let x = u64::from_le_bytes(k);
    let low = x & LOW7;
    // No carries between bytes: each sum stays below 0x100.
    let at_least_a = low + 0x3f3f_3f3f_3f3f_3f3f; // high bit set when >= 0x41 ('A')
    let above_z = low + 0x2525_2525_2525_2525; // high bit set when >= 0x5b ('Z' + 1)
    let upper = !x & (at_least_a ^ above_z) & HIGH;
    x | (upper >> 2)
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// The stretches of `bytes` shaped like a JWT: a run of base64url characters and dots in which
/// `eyJ` starts a part (at the run's start or after a `_`) of at least [`MIN_HEADER`]
/// characters, followed by a payload and a third part. The whole run is withheld (prefix
/// included).
fn jwt_shaped(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_token_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_token_byte(bytes[i]) {
            i += 1;
        }
        let run = &bytes[start..i];
        if run_is_jwt(run) {
            out.push((start, i));
        }
    }
    out
}

/// The shortest JWT header (`{"alg":"none"}` is 19 characters in base64url) counted as one.
const MIN_HEADER: usize = 16;

fn run_is_jwt(run: &[u8]) -> bool {
    run.windows(3).enumerate().any(|(at, w)| {
        if w != b"eyJ" || (at > 0 && run[at - 1] != b'_') {
            return false;
        }
        let mut parts = run[at..].split(|&b| b == b'.');
        let header = parts.next().unwrap_or_default();
        let payload = parts.next().unwrap_or_default();
        header.len() >= MIN_HEADER && payload.len() >= 2 && parts.next().is_some()
    })
}

/// The process-wide redactor: the secrets registered so far.
static GLOBAL: RwLock<Option<Redactor>> = RwLock::new(None);

/// Register a secret for every later [`redact`] (the token, as soon as it is read).
pub fn register(secret: &str) {
    if secret.trim().is_empty() {
        return;
    }
    let mut guard = GLOBAL
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    guard.get_or_insert_with(Redactor::new).add(secret);
}

/// `text` without any registered secret or JWT-shaped stretch (see the module docs).
pub fn redact(text: &str) -> Cow<'_, str> {
    let guard = GLOBAL
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match guard.as_ref() {
        Some(r) => Cow::Owned(r.redact(text).into_owned()),
        None => Redactor::new().redact(text),
    }
}

/// Whether `text` holds a registered secret (a piece of it) or a JWT-shaped stretch.
pub fn holds_secret(text: &str) -> bool {
    let guard = GLOBAL
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match guard.as_ref() {
        Some(r) => r.matches(text),
        None => Redactor::new().matches(text),
    }
}

/// Texts shorter than this are redacted by comparing their few windows with the secret's
/// directly, instead of building a [`Redactor`] (an identity field, a content type).
const SHORT_TEXT: usize = 64;

/// `text` without `secret` (see the module docs): the same redaction, with one given secret.
pub fn redact_with(text: &str, secret: &str) -> String {
    if text.len() >= SHORT_TEXT {
        return Redactor::with_secret(secret).redact(text).into_owned();
    }
    let chunk = joined(secret);
    let start = secret_start(&chunk);
    let secret_part = chunk
        .as_bytes()
        .get(start.saturating_sub(MIN_PIECE - 1)..)
        .unwrap_or_default();
    let windows: Vec<u64> = secret_part.windows(MIN_PIECE).map(fold).collect();
    let ranges = ranges_with(text, !windows.is_empty(), |w| windows.contains(&fold(w)));
    masked(text, &ranges).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str =
        "sp_live_eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEyMyJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ";

    fn no_piece_left(out: &str) {
        let lower = out.to_ascii_lowercase();
        let jwt = &TOKEN[8..];
        for i in 0..=jwt.len() - MIN_PIECE {
            let piece = jwt[i..i + MIN_PIECE].to_ascii_lowercase();
            assert!(!lower.contains(&piece), "{piece} left in {out}");
        }
    }

    #[test]
    fn the_token_and_every_piece_of_it_in_any_case_are_withheld() {
        let r = Redactor::with_secret(TOKEN);
        let (header, rest) = TOKEN.split_once('.').unwrap();
        let sig = TOKEN.rsplit('.').next().unwrap();
        for echoed in [
            TOKEN.to_owned(),
            TOKEN.to_ascii_lowercase(),
            TOKEN.to_ascii_uppercase(),
            header.to_owned(),
            rest.to_owned(),
            sig.to_ascii_uppercase(),
            TOKEN[30..50].to_owned(),
            TOKEN[40..48].to_ascii_lowercase(),
            format!("{}{}", &TOKEN[20..30], &TOKEN[60..70]),
        ] {
            let out = r.redact(&format!("before {echoed} after")).into_owned();
            no_piece_left(&out);
            assert!(
                out.starts_with("before ") && out.ends_with(" after"),
                "{out}"
            );
        }
        assert_eq!(r.redact(&format!("x{TOKEN}y")), "***");
        assert_eq!(r.redact(&format!("a {TOKEN} b")), "a *** b");
    }

    #[test]
    fn short_pieces_the_prefix_and_other_text_are_kept() {
        let r = Redactor::with_secret(TOKEN);
        for text in [
            "use a token such as sp_live_... from `just login`",
            "eyJhbGc",
            "user=dev@example.com api=http://127.0.0.1:8080",
            "",
        ] {
            assert_eq!(r.redact(text), text);
        }
    }

    #[test]
    fn a_malformed_token_keeps_its_prefix_out_of_the_secret() {
        let r = Redactor::with_secret("sp_live_abcdefghij");
        assert_eq!(
            r.redact("an optional prefix like sp_live_, found 1"),
            "an optional prefix like sp_live_, found 1"
        );
        assert_eq!(r.redact("got sp_live_abcdefghij"), "got s***");
    }

    #[test]
    fn a_wrapped_secret_counts_as_its_lines_and_as_a_whole() {
        let wrapped = format!("{}\n{}", &TOKEN[..40], &TOKEN[40..]);
        let r = Redactor::with_secret(&wrapped);
        no_piece_left(&r.redact(TOKEN));
        no_piece_left(&r.redact(&TOKEN[35..45]));
    }

    #[test]
    fn jwt_shaped_text_is_withheld_unregistered() {
        let r = Redactor::new();
        assert_eq!(r.redact(&format!("value `{TOKEN}` bad")), "value `***` bad");
        assert_eq!(r.redact("x eyJhbGciOiJIUzI1NiJ9.eyJ9.sig y"), "x *** y");
        for kept in [
            "heyJoe.txt.bak",
            "eyJ..x",
            "a@eyJ.b.c",
            "eyJhbGciOiJIUzI1NiJ9.x.y",
            "https://api.systemprompt.io",
            "a.b.c",
        ] {
            assert_eq!(r.redact(kept), kept);
        }
    }

    #[test]
    fn output_stays_valid_utf8_around_non_ascii_secrets() {
        let secret = "ééééééééé-secret";
        let r = Redactor::with_secret(secret);
        let out = r.redact("à ééééééééé-secret é");
        assert_eq!(out, "à *** é");
        // A match starting mid-character is widened to the whole character.
        let r = Redactor::with_secret("\u{e9}abcdefgh");
        assert_eq!(r.redact("x\u{e9}abcdefghy"), "x***y");
    }

    #[test]
    fn folding_lowers_ascii_letters_only() {
        for b in 0..=255u8 {
            let w = [b; MIN_PIECE];
            assert_eq!(
                fold(&w),
                u64::from_le_bytes([b.to_ascii_lowercase(); MIN_PIECE]),
                "{b:#x}"
            );
        }
        assert_eq!(fold(b"AbZ[@`z{"), u64::from_le_bytes(*b"abz[@`z{"));
    }

    #[test]
    fn short_and_long_texts_are_redacted_alike() {
        let r = Redactor::with_secret(TOKEN);
        let lower = TOKEN.to_ascii_lowercase();
        for text in [
            format!("a {}", &TOKEN[20..40]),
            format!("{} b", &lower[50..60]),
            format!("sp_live_ and {}", &TOKEN[1..12]),
            "user@example.com".to_owned(),
            format!("é{}é", &TOKEN[30..39]),
        ] {
            assert!(text.len() < SHORT_TEXT, "{text}");
            let padded = format!("{text}{}", " ".repeat(SHORT_TEXT));
            assert_eq!(redact_with(&text, TOKEN), r.redact(&text), "{text}");
            assert_eq!(redact_with(&padded, TOKEN), r.redact(&padded), "{padded}");
        }
    }

    #[test]
    fn redact_with_is_the_same_redaction() {
        // The prefix's first letter is no piece of the secret (only pieces reaching into the
        // JWT are).
        assert_eq!(
            redact_with(&format!("k {}", TOKEN.to_ascii_lowercase()), TOKEN),
            "k s***"
        );
        assert_eq!(redact_with("nothing", ""), "nothing");
    }
}
