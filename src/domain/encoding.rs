//! Text encodings of bank files and the limits a format puts on names.

use serde::{Deserialize, Serialize};

/// The text rules a bank format imposes on names, so validation can hold a line
/// (V05) before anything is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRules {
    /// The file's character encoding.
    pub encoding: TextEncoding,
    /// Longest name (beneficiary or payee) the format carries.
    pub name_max: Option<Length>,
}

/// A length limit counted the way the format counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Unicode characters (XML MaxNNText).
    Chars(usize),
    /// Bytes in the file's encoding (fixed-width Chinese layouts).
    Bytes(usize),
}

/// The basic CJK block, which GBK and GB18030 hold whole, two bytes a character.
const CJK_FIRST: u32 = 0x4E00;
const CJK_LAST: u32 = 0x9FA5;

/// Encodings bank files are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextEncoding {
    #[serde(alias = "utf-8")]
    Utf8,
    Gbk,
    Gb18030,
}

impl TextEncoding {
    fn encoder(self) -> &'static encoding_rs::Encoding {
        match self {
            TextEncoding::Utf8 => encoding_rs::UTF_8,
            TextEncoding::Gbk => encoding_rs::GBK,
            TextEncoding::Gb18030 => encoding_rs::GB18030,
        }
    }

    /// Encodes `s`, or returns the first character the encoding cannot hold.
    /// (encoding_rs would silently write `&#NNNN;` instead: never let it.)
    pub fn encode(self, s: &str) -> Result<Vec<u8>, char> {
        let mut out = Vec::with_capacity(s.len());
        self.encode_into(s, &mut out)?;
        Ok(out)
    }

    /// Encodes `s` onto the end of `out`, or returns the first character the
    /// encoding cannot hold (on error `out` may hold part of `s`).
    ///
    /// Bank files encode every name and bank of a million-line run: ASCII and the
    /// basic CJK block (U+4E00–U+9FA5, the characters nearly every name is made
    /// of, all two bytes in GBK and GB18030) come from a table built once from
    /// encoding_rs itself; anything else goes through the encoder.
    pub fn encode_into(self, s: &str, out: &mut Vec<u8>) -> Result<(), char> {
        if self == TextEncoding::Utf8 || s.is_ascii() {
            out.extend_from_slice(s.as_bytes());
            return Ok(());
        }
        let table = self.cjk_table();
        for (at, c) in s.char_indices() {
            match c as u32 {
                0..=0x7F => out.push(c as u8),
                u @ CJK_FIRST..=CJK_LAST => out.extend_from_slice(&table[(u - CJK_FIRST) as usize]),
                _ => return self.encode_slow(&s[at..], out),
            }
        }
        Ok(())
    }

    /// The two bytes of every character U+4E00–U+9FA5, as the encoder writes them.
    fn cjk_table(self) -> &'static [[u8; 2]] {
        static GBK: std::sync::OnceLock<Vec<[u8; 2]>> = std::sync::OnceLock::new();
        static GB18030: std::sync::OnceLock<Vec<[u8; 2]>> = std::sync::OnceLock::new();
        let cell = if self == TextEncoding::Gb18030 { &GB18030 } else { &GBK };
        cell.get_or_init(|| {
            // One call for the whole block: a call per character cost every command
            // 0.05 s at start (the encoder's set-up, 20,902 times).
            let block: String = (CJK_FIRST..=CJK_LAST).filter_map(char::from_u32).collect();
            let (bytes, _, unmappable) = self.encoder().encode(&block);
            let n = (CJK_LAST - CJK_FIRST + 1) as usize;
            assert!(!unmappable && bytes.len() == 2 * n, "{} writes U+4E00–U+9FA5 two bytes each", self.name());
            bytes.chunks_exact(2).map(|p| [p[0], p[1]]).collect()
        })
    }

    /// The encoder itself, for text outside the table.
    fn encode_slow(self, s: &str, out: &mut Vec<u8>) -> Result<(), char> {
        let mut enc = self.encoder().new_encoder();
        let mut src = s;
        loop {
            let room = enc.max_buffer_length_from_utf8_without_replacement(src.len()).unwrap_or(src.len() * 4 + 16);
            out.reserve(room);
            let (res, read) = enc.encode_from_utf8_to_vec_without_replacement(src, out, true);
            src = &src[read..];
            match res {
                encoding_rs::EncoderResult::InputEmpty => return Ok(()),
                encoding_rs::EncoderResult::OutputFull => continue,
                encoding_rs::EncoderResult::Unmappable(ch) => return Err(ch),
            }
        }
    }

    /// The length in bytes of `s` in this encoding, or the first character it
    /// cannot hold. Validation asks this of two names on every roster row, twice
    /// per run: a name made of ASCII and the basic CJK block (U+4E00–U+9FA5, all
    /// of which GBK and GB18030 hold in two bytes) is measured without running the
    /// encoder, which had been a quarter of the time spent reading rosters.
    pub fn encoded_len(self, s: &str) -> Result<usize, char> {
        if self == TextEncoding::Utf8 {
            return Ok(s.len());
        }
        let mut len = 0;
        for c in s.chars() {
            len += match c as u32 {
                0..=0x7F => 1,
                CJK_FIRST..=CJK_LAST => 2,
                _ => return self.encode(s).map(|b| b.len()),
            };
        }
        Ok(len)
    }

    /// Decodes bytes in this encoding; `None` if they are not valid.
    pub fn decode(self, bytes: &[u8]) -> Option<String> {
        let (s, had_errors) = self.encoder().decode_without_bom_handling(bytes);
        (!had_errors).then(|| s.into_owned())
    }

    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Gbk => "GBK",
            TextEncoding::Gb18030 => "GB18030",
        }
    }
}
