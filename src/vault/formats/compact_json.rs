//! Compact JSON text, byte for byte what `serde_json::to_string` writes.
//!
//! A cold index stores every object's content as compact JSON (benchmark
//! B1): serde_json escapes strings one byte at a time through a table, and
//! that was a tenth of the reading thread's instructions (callgrind). Here
//! a string with nothing to escape, which is nearly every string, is
//! checked eight bytes at a time and copied; any other string, and every
//! number, is still written by serde_json, so the text cannot differ.

use serde_json::Value;

/// `value` as compact JSON, exactly as `serde_json::to_string` writes it.
pub fn to_string(value: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value);
    // Only whole UTF-8 strings and ASCII went in.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_with_serde_json(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// A JSON string literal, escaped as serde_json escapes it.
pub fn write_string(out: &mut Vec<u8>, text: &str) {
    if needs_escape(text.as_bytes()) {
        write_with_serde_json(out, text);
    } else {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

fn write_with_serde_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing a string or a number to a Vec cannot fail; were it to, the
    // text would not parse, and the object would be reported, not lost.
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// Whether `bytes` hold a byte that a JSON string must escape: a control
/// character, `"` or `\`. Eight bytes at a time.
pub fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether any byte of `word` is below `n` (n ≤ 128): a byte below `n`
    // borrows into its high bit, and `!word` keeps only bytes that had
    // it clear. Exact as a yes/no answer.
    let has_below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS;
    let has_byte = |word: u64, byte: u8| has_below(word ^ (ONES * u64::from(byte)), 1);
    let mut words = bytes.chunks_exact(8);
    for chunk in &mut words {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(eight);
        if has_below(word, 0x20) | has_byte(word, b'"') | has_byte(word, b'\\') != 0 {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Any JSON value: nested arrays and objects (keys in the order given),
    /// strings with characters to escape, integers and floats.
    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,20}|[\"\\\\\\x00-\\x1f\\x7f é]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(("\\PC{0,10}|[\"\\\\\\n]{1,3}", inner), 0..6)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The text is serde_json's, byte for byte.
        #[test]
        fn writes_what_serde_json_writes(value in any_value()) {
            prop_assert_eq!(to_string(&value), serde_json::to_string(&value).unwrap());
        }

        /// The word-at-a-time test agrees with the byte-by-byte one, with
        /// the byte to escape anywhere in long text.
        #[test]
        fn needs_escape_finds_every_byte_to_escape(
            text in "\\PC{0,40}",
            special in proptest::sample::select(vec!['"', '\\', '\x00', '\x1f', '\n', '\x7f', 'é', ' ']),
            at in 0usize..41,
        ) {
            let mut text = text;
            let at = text.char_indices().map(|(i, _)| i).chain([text.len()]).nth(at).unwrap_or(text.len());
            text.insert(at, special);
            let bytewise = text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
            prop_assert_eq!(needs_escape(text.as_bytes()), bytewise, "{:?}", text);
        }
    }

    #[test]
    fn a_todo_item_is_written_as_serde_json_writes_it() {
        let item: Value = serde_json::from_str(
            r#"{"id": 3, "text": "Book the \"dentist\"\n", "done": false, "tags": ["a", "b"], "due": null, "score": 1.5e3}"#,
        )
        .unwrap();
        assert_eq!(
            to_string(&item),
            r#"{"id":3,"text":"Book the \"dentist\"\n","done":false,"tags":["a","b"],"due":null,"score":1500.0}"#
        );
    }
}
