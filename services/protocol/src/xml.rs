/// A small streaming XML writer: elements, escaped text, nothing else (AWS query responses
/// use no attributes besides the root's namespace).
#[derive(Debug)]
pub struct XmlWriter {
    out: String,
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlWriter {
    pub fn new() -> Self {
        let mut out = String::with_capacity(1024);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        Self { out }
    }

    pub fn open_with_namespace(&mut self, tag: &str, namespace: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push_str(" xmlns=\"");
        escape_into(&mut self.out, namespace);
        self.out.push_str("\">");
    }

    pub fn open(&mut self, tag: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
    }

    pub fn close(&mut self, tag: &str) {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    /// `<tag>text</tag>`, or `<tag/>` for empty text (which SDKs parse as the empty string).
    pub fn text_element(&mut self, tag: &str, text: &str) {
        if text.is_empty() {
            self.empty_element(tag);
            return;
        }
        self.open(tag);
        escape_into(&mut self.out, text);
        self.close(tag);
    }

    pub fn empty_element(&mut self, tag: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push_str("/>");
    }

    pub fn finish(self) -> Vec<u8> {
        self.out.into_bytes()
    }
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters even escaped; AWS never sends them.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_writes_empty_elements() {
        let mut w = XmlWriter::new();
        w.open_with_namespace("R", "http://x/");
        w.text_element("a", "<&>\"'");
        w.text_element("b", "");
        w.text_element("c", "bell\u{7}");
        w.close("R");
        let s = String::from_utf8(w.finish()).unwrap();
        assert_eq!(
            s,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R xmlns=\"http://x/\"><a>&lt;&amp;&gt;&quot;&apos;</a><b/><c>bell\u{FFFD}</c></R>"
        );
    }
}
