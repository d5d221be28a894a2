//! Turning generated token ids into streamed text: whole UTF-8 characters only (a character
//! split across byte tokens is held until complete) and `stop` strings cut out (text that could
//! be the start of a stop string is held until it is known not to be one).

/// What [`StopMatcher::push`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// Text that can be sent now.
    pub text: String,
    /// A stop string was found: the answer ends after `text`.
    pub stopped: bool,
}

/// Finds `stop` strings in streamed text.
#[derive(Debug, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

impl StopMatcher {
    /// A matcher for `stops` (empty strings are ignored).
    pub fn new(stops: Vec<String>) -> Self {
        StopMatcher {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            held: String::new(),
        }
    }

    /// Adds `piece`; returns the text that is safe to send and whether a stop string ended it.
    pub fn push(&mut self, piece: &str) -> Pushed {
        self.held.push_str(piece);
        let first_stop = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(at) = first_stop {
            let text = self.held[..at].to_string();
            self.held.clear();
            return Pushed {
                text,
                stopped: true,
            };
        }
        // Hold back the longest tail that is a proper prefix of some stop string.
        let keep = self
            .stops
            .iter()
            .map(|s| longest_suffix_prefix(&self.held, s))
            .max()
            .unwrap_or(0);
        let cut = self.held.len() - keep;
        let text = self.held[..cut].to_string();
        self.held.drain(..cut);
        Pushed {
            text,
            stopped: false,
        }
    }

    /// The held text, when the answer ends without a stop string.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `stop`, on a char boundary.
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    let max = text.len().min(stop.len().saturating_sub(1));
    (1..=max)
        .rev()
        .find(|&n| {
            let start = text.len() - n;
            text.is_char_boundary(start) && stop.starts_with(&text[start..])
        })
        .unwrap_or(0)
}

/// Decodes generated ids incrementally into whole characters.
#[derive(Debug, Default)]
pub struct Detokenizer {
    ids: Vec<u32>,
    sent_bytes: usize,
}

impl Detokenizer {
    /// Adds `id`; `decode` turns the ids so far into text. Returns the new complete text.
    pub fn push(
        &mut self,
        id: u32,
        decode: impl Fn(&[u32]) -> Result<String, String>,
    ) -> Result<String, String> {
        self.ids.push(id);
        let text = decode(&self.ids)?;
        // A character still missing bytes decodes as U+FFFD at the end: wait for the rest.
        if text.ends_with('\u{FFFD}') || text.len() < self.sent_bytes {
            return Ok(String::new());
        }
        let new = text
            .get(self.sent_bytes..)
            .map(str::to_string)
            .unwrap_or_default();
        self.sent_bytes = text.len();
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_stop_string_split_over_pieces_is_found_and_cut() {
        let mut m = StopMatcher::new(vec!["END".into()]);
        assert_eq!(m.push("hello E").text, "hello ");
        let p = m.push("NDtrailing");
        assert_eq!(
            p,
            Pushed {
                text: String::new(),
                stopped: true
            }
        );
    }

    #[test]
    fn a_false_start_is_released() {
        let mut m = StopMatcher::new(vec!["END".into()]);
        assert_eq!(m.push("a EN").text, "a ");
        assert_eq!(m.push("X").text, "ENX");
        assert_eq!(m.finish(), "");
    }

    #[test]
    fn the_earliest_of_several_stops_wins() {
        let mut m = StopMatcher::new(vec!["b".into(), "a".into()]);
        assert_eq!(
            m.push("xxab"),
            Pushed {
                text: "xx".into(),
                stopped: true
            }
        );
    }

    proptest! {
        /// Whatever the pieces, the text sent is the text before the first stop (or all of it).
        #[test]
        fn sent_text_is_the_text_before_the_first_stop(
            pieces in proptest::collection::vec("[a-cé]{0,4}", 0..12),
            stop in "[a-cé]{1,3}",
        ) {
            let whole: String = pieces.concat();
            let mut m = StopMatcher::new(vec![stop.clone()]);
            let mut sent = String::new();
            let mut stopped = false;
            for p in &pieces {
                let out = m.push(p);
                sent.push_str(&out.text);
                if out.stopped { stopped = true; break; }
            }
            if !stopped { sent.push_str(&m.finish()); }
            let expected = match whole.find(&stop) { Some(i) => &whole[..i], None => &whole[..] };
            prop_assert_eq!(sent, expected);
        }
    }

    #[test]
    fn a_split_character_is_held_until_complete() {
        // Two "tokens" that are the two halves of 'é'.
        let bytes: Vec<Vec<u8>> = vec![vec![b'a'], vec![0xC3], vec![0xA9]];
        let decode = |ids: &[u32]| -> Result<String, String> {
            let all: Vec<u8> = ids
                .iter()
                .flat_map(|i| bytes[*i as usize].clone())
                .collect();
            Ok(String::from_utf8_lossy(&all).into_owned())
        };
        let mut d = Detokenizer::default();
        assert_eq!(d.push(0, decode).unwrap(), "a");
        assert_eq!(d.push(1, decode).unwrap(), "");
        assert_eq!(d.push(2, decode).unwrap(), "é");
    }
}
