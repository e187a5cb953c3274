//! Binary-safe keys and values on a command line: splitting a line into
//! byte tokens, and writing bytes back in a form that reads back the same.
//!
//! Input tokens, separated by blanks:
//! - a bare word: its bytes as typed (`user:1`);
//! - `"..."`: with escapes `\\ \" \n \r \t \0 \xHH` (any byte);
//! - `'...'`: the bytes between the quotes, no escapes;
//! - `x'...'`: hexadecimal digits, two per byte (`x'00ff'`), as in SQL.
//!
//! Output: a bare word when every byte is printable ASCII other than blanks
//! and quotes (and the token is not empty), otherwise a `"..."` string with
//! `\xHH` for every other byte; so what the shell prints can be pasted back.

use std::fmt::Write;

/// Splits `line` into tokens.
pub(crate) fn tokenize(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let bytes = line.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'"' => {
                let (token, next) = double_quoted(bytes, i + 1)?;
                tokens.push(token);
                i = next;
            }
            b'\'' => {
                let end = find(bytes, i + 1, b'\'').ok_or("unterminated '...' string")?;
                tokens.push(bytes[i + 1..end].to_vec());
                i = end + 1;
            }
            b'x' | b'X' if bytes.get(i + 1) == Some(&b'\'') => {
                let end = find(bytes, i + 2, b'\'').ok_or("unterminated x'...' hex string")?;
                tokens.push(hex(&line[i + 2..end])?);
                i = end + 1;
            }
            _ => {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'\r' | b'\n') {
                    if matches!(bytes[i], b'"' | b'\'') {
                        return Err(format!(
                            "a quote inside the word {:?}: quote the whole token",
                            &line[start..=i]
                        ));
                    }
                    i += 1;
                }
                tokens.push(bytes[start..i].to_vec());
            }
        }
    }
    Ok(tokens)
}

fn find(bytes: &[u8], from: usize, byte: u8) -> Option<usize> {
    bytes[from..]
        .iter()
        .position(|&b| b == byte)
        .map(|p| from + p)
}

fn double_quoted(bytes: &[u8], mut i: usize) -> Result<(Vec<u8>, usize), String> {
    let mut out = Vec::new();
    loop {
        let Some(&b) = bytes.get(i) else {
            return Err("unterminated \"...\" string".into());
        };
        i += 1;
        match b {
            b'"' => return Ok((out, i)),
            b'\\' => {
                let Some(&e) = bytes.get(i) else {
                    return Err("a \\ at the end of a string".into());
                };
                i += 1;
                out.push(match e {
                    b'\\' => b'\\',
                    b'"' => b'"',
                    b'\'' => b'\'',
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'0' => 0,
                    b'x' => {
                        let digits = bytes
                            .get(i..i + 2)
                            .and_then(|d| std::str::from_utf8(d).ok())
                            .ok_or("\\x needs two hexadecimal digits")?;
                        i += 2;
                        u8::from_str_radix(digits, 16)
                            .map_err(|_| format!("\\x{digits} is not hexadecimal"))?
                    }
                    other => return Err(format!("unknown escape \\{}", other as char)),
                });
            }
            _ => out.push(b),
        }
    }
}

/// Decodes hexadecimal digits (blanks allowed between bytes).
pub(crate) fn hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hexadecimal digits in {text:?}"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).map_err(|_| "not hexadecimal".to_string())?;
            u8::from_str_radix(s, 16).map_err(|_| format!("{s:?} is not hexadecimal"))
        })
        .collect()
}

/// Hexadecimal digits of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `bytes` in a form [`tokenize`] reads back as one token equal to them.
pub(crate) fn quote(bytes: &[u8]) -> String {
    let bare = !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\'))
        && !(bytes.len() > 1 && matches!(bytes[0], b'x' | b'X') && bytes[1] == b'\'');
    if bare {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            b' ' => s.push(' '),
            _ if b.is_ascii_graphic() => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    s
}

/// Bytes as a JSON value: a string when they are UTF-8, otherwise an object
/// `{"hex": "..."}`.
pub(crate) fn to_json(bytes: &[u8]) -> serde_json::Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::Value::String(text.to_owned()),
        Err(_) => serde_json::json!({ "hex": to_hex(bytes) }),
    }
}

/// The inverse of [`to_json`].
pub(crate) fn from_json(value: &serde_json::Value) -> Result<Vec<u8>, String> {
    match value {
        serde_json::Value::String(text) => Ok(text.as_bytes().to_vec()),
        serde_json::Value::Object(map) => match map.get("hex") {
            Some(serde_json::Value::String(h)) if map.len() == 1 => hex(h),
            _ => Err(format!(
                "expected a string or {{\"hex\": ...}}, found {value}"
            )),
        },
        other => Err(format!(
            "expected a string or {{\"hex\": ...}}, found {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_string_round_trips_through_quote_and_tokenize() {
        let mut samples: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"plain".to_vec(),
            b"with space".to_vec(),
            b"x'00'".to_vec(),
            b"x'".to_vec(),
            b"quote\"and'apostrophe\\".to_vec(),
            (0..=255u8).collect(),
            "caf\u{e9}".as_bytes().to_vec(),
        ];
        samples.extend((0..=255u8).map(|b| vec![b]));
        for sample in samples {
            let quoted = quote(&sample);
            let back = tokenize(&quoted).unwrap();
            assert_eq!(back, vec![sample.clone()], "{quoted}");
        }
    }

    #[test]
    fn tokens_of_each_form() {
        let line = r#"put "a b\x00" 'c"d' x'00ff' bare"#;
        assert_eq!(
            tokenize(line).unwrap(),
            vec![
                b"put".to_vec(),
                b"a b\0".to_vec(),
                b"c\"d".to_vec(),
                vec![0, 255],
                b"bare".to_vec()
            ]
        );
    }

    #[test]
    fn malformed_tokens_are_errors() {
        for bad in [
            r#""open"#, "'open", "x'0", "x'zz'", r#""\q""#, r#""\x1""#, r#"a"b"#,
        ] {
            assert!(tokenize(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_form_keeps_binary_exactly() {
        for sample in [b"text".to_vec(), vec![0xff, 0, 1]] {
            assert_eq!(from_json(&to_json(&sample)).unwrap(), sample);
        }
        assert!(from_json(&serde_json::json!(3)).is_err());
    }
}
