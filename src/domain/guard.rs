//! The attribution guard of DESIGN.md §4 item 5: before a chatham note, a summary, a joint
//! statement or an agenda outcome is stored, find every mention that could attribute it to a
//! participant of the round. The caller refuses with 422 `attribution_risk` listing the spans, or
//! (with `redact: true`) stores [`redact`]ed text instead.
//!
//! Invariants:
//! - A [`Span`] carries offsets and a kind, never the matched text, so a refusal cannot echo the
//!   input back. Offsets count Unicode scalar values (chars) of the *original* text, end exclusive.
//! - [`Guard::scan`] returns spans sorted by start and pairwise disjoint.
//! - `redact(text, &scan(text))` leaves nothing that a second scan flags (see the property test).
//!
//! Rules, as implemented:
//! - **Folding.** Text and patterns are compared after NFKD decomposition (compatibility, so
//!   full-width letters and ligatures fold too), dropping combining marks (`General_Category=Mark`)
//!   and invisible format characters inside words (soft hyphen, zero-width joiners, direction
//!   marks, word joiner, BOM; a zero-width *space* stays a word boundary),
//!   lowercasing, and mapping the few Latin letters that do not decompose (`ı ø ł đ ħ ß æ œ`).
//!   "Ayşe Öztürk" matches "AYSE OZTURK". Each folded char remembers the original char it came
//!   from, so spans point into the original text.
//! - **Whole words.** A word is a maximal run of alphanumeric folded chars; everything else
//!   (spaces, punctuation, apostrophes, `@`, `.`) is a boundary. Patterns are sequences of whole
//!   words, so "Khanna" never matches "Khan" but "Khan's" does. Between the words of a pattern,
//!   whitespace in the pattern matches any run of whitespace (line breaks included); any other
//!   separator must be the same after mapping dashes to `-` and apostrophes to `'`.
//! - **Participants** ([`SpanKind::Participant`]):
//!   the display name as a phrase, also without leading honorifics ("Dr. Aisha Khan" → "Aisha
//!   Khan"); every word of the name with 3+ chars that is not in [`NAME_STOP_WORDS`]; every
//!   whitespace-free chunk of several words ("Ali-Khan", "O'Brien") as a whole;
//!   the email address; its local part when it has 3+ alphanumeric chars and is not a generic
//!   mailbox ([`GENERIC_MAILBOXES`]). Email patterns use the same whole-word rule as names
//!   (so "x.akhan@…" still flags "akhan"): stricter boundaries would let redaction of a
//!   neighbour expose a new match, and over-flagging is the safe side.
//! - **Institutions** ([`SpanKind::Institution`]): the affiliation as a phrase, also without a
//!   leading "The"; a trailing parenthesised alias ("… Analyses (IDSA)") as its own pattern; and
//!   an acronym: the first letters of the words (split on whitespace, `-`, `/`) that begin with a
//!   capital letter, when that gives 3+ letters ("Institute of Strategic Studies Islamabad" →
//!   "ISSI"; lowercase words such as "of" are skipped). Acronyms, aliases written in capitals and one-word affiliations written
//!   in capitals match only in capitals ("ISSI" and "ISSI's", never "issi"). A one-word
//!   affiliation of fewer than 3 chars is ignored.
//! - **Role-holders** ([`SpanKind::RoleHolder`]): the titles of co-chair, rapporteur, facilitator
//!   and convenor (singular and plural, see [`role_titles`]) when 1 or 2 participants hold the
//!   role. Delegates and observers are never flagged.
//! - **Allowed words** (side names, countries) shield every match lying entirely inside one of
//!   their occurrences ("Jordan" for participant "Jordan Smith"), except a full name of 2+ words
//!   and a full email address. An occurrence overlapping a reported span shields nothing, so
//!   redaction cannot uncover a match it used to hide.
//! - **Spans.** Overlapping matches merge into one span with the kind of the longest match
//!   (ties: participant, institution, role-holder). Neighbouring spans of the same kind separated
//!   only by whitespace merge too ("Aisha Noor Khan" written "Aisha Khan" is one participant,
//!   not two).

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

use crate::domain::rights::Role;

/// Name words of 3+ chars that are honorifics, ranks or particles, never flagged alone (shorter
/// ones such as "dr", "mr", "al", "de" are excluded by the 3-char rule already). They still count
/// inside a full name.
pub const NAME_STOP_WORDS: &[&str] = &[
    "prof", "gen", "col", "maj", "capt", "amb", "mrs", "miss", "sir", "dame", "rev", "hon", "retd",
    "the", "and", "von", "van", "der", "den", "del", "della", "dos", "bin", "bint", "ibn",
];

/// Leading words dropped from a display name to form its short full name.
const HONORIFICS: &[&str] = &[
    "dr", "mr", "mrs", "ms", "mx", "prof", "gen", "lt", "col", "maj", "capt", "amb", "sir", "dame",
    "rev", "hon",
];

/// Email local parts that name a mailbox, not a person: never flagged alone.
pub const GENERIC_MAILBOXES: &[&str] = &[
    "info",
    "contact",
    "office",
    "admin",
    "mail",
    "email",
    "hello",
    "team",
    "secretariat",
    "noreply",
    "no-reply",
    "enquiries",
    "inquiries",
    "press",
    "media",
    "events",
    "support",
    "postmaster",
    "webmaster",
];

/// One participant of the round, as the guard sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    pub display_name: String,
    pub email: String,
    pub affiliation: Option<String>,
}

/// What the guard knows about one round.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub people: Vec<Person>,
    /// How many participants hold each role (roles absent from the list are held by nobody).
    pub role_counts: Vec<(Role, usize)>,
    /// Words that are never flagged even if they equal a name part: the dialogue's side names and
    /// countries.
    pub allowed: Vec<String>,
}

impl Context {
    /// Build the index once; scan as many texts as needed with it.
    pub fn guard(&self) -> Guard {
        Guard::new(self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    Participant,
    Institution,
    RoleHolder,
}

impl SpanKind {
    /// What `redact` writes in place of a span of this kind.
    pub fn placeholder(self) -> &'static str {
        match self {
            SpanKind::Participant => "[a participant]",
            SpanKind::Institution => "[an institution]",
            SpanKind::RoleHolder => "[a role-holder]",
        }
    }

    /// Which kind wins a tie between overlapping matches of equal length.
    fn rank(self) -> u8 {
        match self {
            SpanKind::Participant => 0,
            SpanKind::Institution => 1,
            SpanKind::RoleHolder => 2,
        }
    }
}

/// One attributing mention. Deliberately carries no matched text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Span {
    /// Offsets in Unicode scalar values (chars) of the original text, end exclusive.
    pub start: usize,
    pub end: usize,
    pub kind: SpanKind,
}

/// Scan `text` with a guard built for `ctx`. Build the guard once with [`Context::guard`] to scan
/// several texts.
pub fn scan(text: &str, ctx: &Context) -> Vec<Span> {
    Guard::new(ctx).scan(text)
}

/// Replace each span with its placeholder. Tolerates any spans: out-of-bounds ends are clamped,
/// unsorted spans are sorted, and a span overlapping an earlier one only extends it.
pub fn redact(text: &str, spans: &[Span]) -> String {
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()))
        .collect();
    let len = bounds.len() - 1;
    let mut spans = spans.to_vec();
    spans.sort_by_key(|s| (s.start, Reverse(s.end)));
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for span in spans {
        let end = span.end.min(len);
        if span.start < cursor {
            cursor = cursor.max(end);
            continue;
        }
        let start = span.start.min(len);
        if start >= end {
            continue;
        }
        out.push_str(&text[bounds[cursor]..bounds[start]]);
        out.push_str(span.kind.placeholder());
        cursor = end;
    }
    out.push_str(&text[bounds[cursor]..]);
    out
}

/// The precomputed patterns of one round, indexed by their first folded word.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    patterns: Vec<Pattern>,
    index: HashMap<String, Vec<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Class {
    Flag(Kind),
    Allowed,
}

/// `SpanKind` without the serde/utoipa baggage, hashable for de-duplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Participant,
    Institution,
    RoleHolder,
}

impl From<Kind> for SpanKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Participant => SpanKind::Participant,
            Kind::Institution => SpanKind::Institution,
            Kind::RoleHolder => SpanKind::RoleHolder,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Gap {
    /// Any non-empty run of whitespace.
    Space,
    /// These separator chars, canonicalised (see `canonical`).
    Exact(Box<[char]>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Pattern {
    /// Folded words; `gaps[i]` lies between `words[i]` and `words[i + 1]`.
    words: Vec<Box<[char]>>,
    gaps: Vec<Gap>,
    class: Class,
    /// Not shielded by allowed words (a full name of 2+ words, a full email address).
    strong: bool,
    /// Letters must be capitals in the text (acronyms).
    upper: bool,
}

impl Pattern {
    fn new(words: &[Box<[char]>], gaps: &[Gap], kind: Kind) -> Self {
        Pattern {
            words: words.to_vec(),
            gaps: gaps.to_vec(),
            class: Class::Flag(kind),
            strong: false,
            upper: false,
        }
    }

    /// The folded end of this pattern's match starting at text word `i`, if it matches there.
    fn match_at(&self, text: &Folded, words: &[(usize, usize)], i: usize) -> Option<usize> {
        let last = i + self.words.len() - 1;
        if last >= words.len() {
            return None;
        }
        for (k, want) in self.words.iter().enumerate() {
            let (s, e) = words[i + k];
            if k > 0 && !self.gaps[k - 1].matches(&text.chars[words[i + k - 1].1..s]) {
                return None;
            }
            if text.chars[s..e] != **want {
                return None;
            }
            if self.upper && (s..e).any(|j| text.chars[j].is_alphabetic() && !text.upper[j]) {
                return None;
            }
        }
        Some(words[last].1)
    }
}

impl Gap {
    fn of(chars: &[char]) -> Gap {
        if chars.iter().all(|c| c.is_whitespace()) {
            Gap::Space
        } else {
            Gap::Exact(canonical(chars).collect())
        }
    }

    fn matches(&self, chars: &[char]) -> bool {
        match self {
            Gap::Space => !chars.is_empty() && chars.iter().all(|c| c.is_whitespace()),
            Gap::Exact(want) => canonical(chars).eq(want.iter().copied()),
        }
    }
}

/// Separator chars with whitespace runs collapsed to one space, dashes as `-`, apostrophes as `'`.
fn canonical(chars: &[char]) -> impl Iterator<Item = char> + '_ {
    let mut after_space = false;
    chars.iter().filter_map(move |&c| {
        if c.is_whitespace() {
            let first = !after_space;
            after_space = true;
            first.then_some(' ')
        } else {
            after_space = false;
            Some(match c {
                '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE63}' | '\u{FF0D}' => '-',
                '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{FF07}' | '`' => '\'',
                c => c,
            })
        }
    })
}

/// Text folded for comparison, with the way back to the original.
struct Folded {
    /// Folded chars: decomposed, marks dropped, lowercased.
    chars: Vec<char>,
    /// Whether the char was a capital before lowercasing.
    upper: Vec<bool>,
    /// The original char offset each folded char came from (non-decreasing).
    origin: Vec<usize>,
    /// The original text's chars.
    original: Vec<char>,
}

/// Invisible format characters that must not split a word. U+200B ZERO WIDTH SPACE is left
/// out: it separates words.
fn ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200C}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
    )
}

/// Latin letters (already lowercase) that no Unicode decomposition maps to ASCII.
fn unfold_special(c: char) -> Option<&'static str> {
    Some(match c {
        'ı' => "i",
        'ø' => "o",
        'ł' => "l",
        'đ' => "d",
        'ħ' => "h",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        _ => return None,
    })
}

fn fold(text: &str) -> Folded {
    let mut f = Folded {
        chars: Vec::with_capacity(text.len()),
        upper: Vec::with_capacity(text.len()),
        origin: Vec::with_capacity(text.len()),
        original: Vec::with_capacity(text.len()),
    };
    for (i, c) in text.chars().enumerate() {
        f.original.push(c);
        if ignorable(c) {
            continue;
        }
        decompose_compatible(c, |d| {
            if is_combining_mark(d) {
                return;
            }
            let upper = d.is_uppercase();
            for l in d.to_lowercase() {
                let mut push = |x| {
                    f.chars.push(x);
                    f.upper.push(upper);
                    f.origin.push(i);
                };
                match unfold_special(l) {
                    Some(s) => s.chars().for_each(&mut push),
                    None => push(l),
                }
            }
        });
    }
    f
}

/// The words of folded text: maximal runs of alphanumeric chars, as folded ranges.
fn words(chars: &[char]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in chars.iter().enumerate() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, chars.len()));
    }
    out
}

/// A string as folded words and the separators between them; `None` if it has no word.
struct Phrase {
    words: Vec<Box<[char]>>,
    gaps: Vec<Gap>,
    /// Every letter is a capital and there is at least one.
    all_caps: bool,
}

fn phrase(s: &str) -> Option<Phrase> {
    let f = fold(s);
    let ranges = words(&f.chars);
    if ranges.is_empty() {
        return None;
    }
    let mut letters = f
        .chars
        .iter()
        .zip(&f.upper)
        .filter(|(c, _)| c.is_alphabetic());
    let all_caps = letters.clone().next().is_some() && letters.all(|(_, &up)| up);
    Some(Phrase {
        words: ranges.iter().map(|&(a, b)| f.chars[a..b].into()).collect(),
        gaps: ranges
            .windows(2)
            .map(|w| Gap::of(&f.chars[w[0].1..w[1].0]))
            .collect(),
        all_caps,
    })
}

fn is_one_of(word: &[char], list: &[&str]) -> bool {
    list.iter().any(|s| s.chars().eq(word.iter().copied()))
}

/// The titles of a role that the guard flags when 1 or 2 participants hold it.
pub fn role_titles(role: Role) -> Vec<String> {
    let words: &[&str] = match role {
        Role::CoChair => {
            let suffixes = [
                "chair",
                "chairs",
                "chairman",
                "chairmen",
                "chairwoman",
                "chairwomen",
                "chairperson",
                "chairpersons",
            ];
            return suffixes
                .iter()
                .flat_map(|s| ["-", " ", ""].map(|sep| format!("co{sep}{s}")))
                .collect();
        }
        Role::Rapporteur => &["rapporteur", "rapporteurs"],
        Role::Facilitator => &["facilitator", "facilitators"],
        Role::Convenor => &["convenor", "convener", "convenors", "conveners"],
        Role::Delegate | Role::Observer => &[],
    };
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// The acronym of an affiliation (first letters of its capitalised words, 3+ of them), as folded
/// lowercase letters.
fn acronym(name: &str) -> Option<Box<[char]>> {
    let mut letters = Vec::new();
    for word in name.split(|c: char| c.is_whitespace() || c == '-' || c == '/') {
        let f = fold(word);
        if let (Some(&c), Some(&up)) = (f.chars.first(), f.upper.first())
            && c.is_alphabetic()
            && up
        {
            letters.push(c);
        }
    }
    (letters.len() >= 3).then(|| letters.into())
}

#[derive(Default)]
struct Builder {
    patterns: Vec<Pattern>,
    seen: HashSet<Pattern>,
}

impl Builder {
    fn add(&mut self, p: Pattern) {
        if self.seen.insert(p.clone()) {
            self.patterns.push(p);
        }
    }

    fn person(&mut self, person: &Person) {
        if let Some(name) = phrase(&person.display_name) {
            let n = name.words.len();
            self.add(Pattern {
                strong: n >= 2,
                ..Pattern::new(&name.words, &name.gaps, Kind::Participant)
            });
            let skip = name
                .words
                .iter()
                .take_while(|w| is_one_of(w, HONORIFICS))
                .count()
                .min(n - 1);
            if skip > 0 {
                self.add(Pattern {
                    strong: n - skip >= 2,
                    ..Pattern::new(&name.words[skip..], &name.gaps[skip..], Kind::Participant)
                });
            }
            for word in &name.words {
                if word.len() >= 3 && !is_one_of(word, NAME_STOP_WORDS) {
                    self.add(Pattern::new(
                        std::slice::from_ref(word),
                        &[],
                        Kind::Participant,
                    ));
                }
            }
        }
        for chunk in person.display_name.split_whitespace() {
            if let Some(c) = phrase(chunk)
                && c.words.len() >= 2
                && c.words.iter().map(|w| w.len()).sum::<usize>() >= 3
            {
                self.add(Pattern::new(&c.words, &c.gaps, Kind::Participant));
            }
        }

        let email = person.email.trim();
        if let Some(full) = phrase(email) {
            self.add(Pattern {
                strong: full.words.len() >= 2,
                ..Pattern::new(&full.words, &full.gaps, Kind::Participant)
            });
        }
        if let Some((local, _)) = email.rsplit_once('@')
            && let Some(l) = phrase(local)
            && l.words.iter().map(|w| w.len()).sum::<usize>() >= 3
            && !GENERIC_MAILBOXES.contains(&local.to_lowercase().as_str())
        {
            self.add(Pattern::new(&l.words, &l.gaps, Kind::Participant));
        }

        if let Some(affiliation) = &person.affiliation {
            self.affiliation(affiliation.trim());
        }
    }

    fn affiliation(&mut self, affiliation: &str) {
        let mut main = affiliation;
        if let Some(open) = affiliation.rfind('(')
            && let Some(alias) = affiliation[open + 1..].strip_suffix(')')
        {
            main = affiliation[..open].trim_end();
            self.institution(alias);
        }
        self.institution(main);
        let bare = main
            .split_once(char::is_whitespace)
            .filter(|(first, _)| first.eq_ignore_ascii_case("the"))
            .map(|(_, rest)| rest.trim_start());
        if let Some(bare) = bare {
            self.institution(bare);
        }
        if let Some(letters) = acronym(bare.unwrap_or(main)) {
            self.add(Pattern {
                upper: true,
                ..Pattern::new(&[letters], &[], Kind::Institution)
            });
        }
    }

    /// An institution's name or alias as a phrase.
    fn institution(&mut self, name: &str) {
        let Some(p) = phrase(name) else { return };
        if p.words.len() == 1 && p.words[0].len() < 3 {
            return;
        }
        self.add(Pattern {
            upper: p.words.len() == 1 && p.all_caps,
            ..Pattern::new(&p.words, &p.gaps, Kind::Institution)
        });
    }
}

/// A match in folded offsets.
struct Hit {
    start: usize,
    end: usize,
    kind: Kind,
    strong: bool,
}

/// Ranges sorted by start with a running maximum of their ends, for containment and overlap
/// queries in `O(log n)`.
struct Ranges {
    starts: Vec<usize>,
    max_end: Vec<usize>,
}

impl Ranges {
    fn new(mut ranges: Vec<(usize, usize)>) -> Self {
        ranges.sort_unstable();
        let mut max = 0;
        let max_end = ranges
            .iter()
            .map(|&(_, e)| {
                max = max.max(e);
                max
            })
            .collect();
        Ranges {
            starts: ranges.into_iter().map(|(s, _)| s).collect(),
            max_end,
        }
    }

    /// Some range contains `[s, e)`.
    fn contains(&self, s: usize, e: usize) -> bool {
        let n = self.starts.partition_point(|&x| x <= s);
        n > 0 && self.max_end[n - 1] >= e
    }

    /// Some range overlaps `[s, e)`.
    fn overlaps(&self, s: usize, e: usize) -> bool {
        let n = self.starts.partition_point(|&x| x < e);
        n > 0 && self.max_end[n - 1] > s
    }
}

/// Which hits survive the allowed words: a weak hit inside an occurrence of an allowed word is
/// dropped, unless that occurrence overlaps a kept hit (then redaction would break it up).
/// Iterates to a fixpoint; each round keeps at least one more hit or stops.
fn shield(hits: &[Hit], allowed: &[(usize, usize)]) -> Vec<bool> {
    if allowed.is_empty() {
        return vec![true; hits.len()];
    }
    let all = Ranges::new(allowed.to_vec());
    let mut kept: Vec<bool> = hits
        .iter()
        .map(|h| h.strong || !all.contains(h.start, h.end))
        .collect();
    loop {
        let kept_ranges = Ranges::new(
            hits.iter()
                .zip(&kept)
                .filter(|(_, k)| **k)
                .map(|(h, _)| (h.start, h.end))
                .collect(),
        );
        let intact = Ranges::new(
            allowed
                .iter()
                .copied()
                .filter(|&(s, e)| !kept_ranges.overlaps(s, e))
                .collect(),
        );
        let mut changed = false;
        for (h, k) in hits.iter().zip(kept.iter_mut()) {
            if !*k && !intact.contains(h.start, h.end) {
                *k = true;
                changed = true;
            }
        }
        if !changed {
            return kept;
        }
    }
}

impl Guard {
    pub fn new(ctx: &Context) -> Self {
        let mut b = Builder::default();
        for person in &ctx.people {
            b.person(person);
        }
        let mut counts: HashMap<Role, usize> = HashMap::new();
        for &(role, n) in &ctx.role_counts {
            *counts.entry(role).or_default() += n;
        }
        for (role, n) in counts {
            if !(1..=2).contains(&n) {
                continue;
            }
            for title in role_titles(role) {
                if let Some(p) = phrase(&title) {
                    b.add(Pattern::new(&p.words, &p.gaps, Kind::RoleHolder));
                }
            }
        }
        let has_flags = !b.patterns.is_empty();
        if has_flags {
            // The redaction placeholders are always allowed, so redacted text scans clean even
            // when a participant's whole name is a word of a placeholder ("A", "Participant").
            let placeholders = [Kind::Participant, Kind::Institution, Kind::RoleHolder].map(|k| {
                SpanKind::from(k)
                    .placeholder()
                    .trim_matches(['[', ']'])
                    .to_owned()
            });
            for word in ctx.allowed.iter().chain(placeholders.iter()) {
                if let Some(p) = phrase(word) {
                    b.add(Pattern {
                        class: Class::Allowed,
                        ..Pattern::new(&p.words, &p.gaps, Kind::Participant)
                    });
                }
            }
        }
        let mut index: HashMap<String, Vec<usize>> = HashMap::new();
        for (id, p) in b.patterns.iter().enumerate() {
            index
                .entry(p.words[0].iter().collect())
                .or_default()
                .push(id);
        }
        Guard {
            patterns: b.patterns,
            index,
        }
    }

    /// Whether the guard can flag anything at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Every attributing mention in `text`: sorted by start, disjoint, in original char offsets.
    pub fn scan(&self, text: &str) -> Vec<Span> {
        if self.patterns.is_empty() || text.is_empty() {
            return Vec::new();
        }
        let f = fold(text);
        let ranges = words(&f.chars);
        let mut hits = Vec::new();
        let mut allowed = Vec::new();
        let mut key = String::new();
        for (i, &(s, e)) in ranges.iter().enumerate() {
            key.clear();
            key.extend(&f.chars[s..e]);
            let Some(ids) = self.index.get(key.as_str()) else {
                continue;
            };
            for &id in ids {
                let p = &self.patterns[id];
                let Some(end) = p.match_at(&f, &ranges, i) else {
                    continue;
                };
                match p.class {
                    Class::Allowed => allowed.push((s, end)),
                    Class::Flag(kind) => hits.push(Hit {
                        start: s,
                        end,
                        kind,
                        strong: p.strong,
                    }),
                }
            }
        }
        let kept = shield(&hits, &allowed);
        let found = hits
            .iter()
            .zip(kept)
            .filter(|(_, k)| *k)
            .map(|(h, _)| {
                let start = f.origin[h.start];
                let last = f.origin[h.end - 1] + 1;
                // Take along the marks and invisible chars that follow the last char.
                let end = f
                    .origin
                    .get(h.end)
                    .map_or(f.original.len(), |&o| o.max(last));
                Span {
                    start,
                    end,
                    kind: h.kind.into(),
                }
            })
            .collect();
        merge(found, &f.original)
    }

    /// `redact(text, &self.scan(text))`.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.scan(text))
    }
}

/// Merge overlapping spans (the longest match gives the kind), then neighbours of the same kind
/// separated by whitespace only.
fn merge(mut found: Vec<Span>, original: &[char]) -> Vec<Span> {
    found.sort_by_key(|s| (s.start, Reverse(s.end), s.kind.rank()));
    let mut clusters: Vec<(Span, usize)> = Vec::new();
    for span in found {
        let len = span.end - span.start;
        match clusters.last_mut() {
            Some((cur, best)) if span.start < cur.end => {
                cur.end = cur.end.max(span.end);
                if len > *best || (len == *best && span.kind.rank() < cur.kind.rank()) {
                    *best = len;
                    cur.kind = span.kind;
                }
            }
            _ => clusters.push((span, len)),
        }
    }
    let mut out: Vec<Span> = Vec::with_capacity(clusters.len());
    for (span, _) in clusters {
        match out.last_mut() {
            Some(cur)
                if cur.kind == span.kind
                    && original[cur.end..span.start]
                        .iter()
                        .all(|c| c.is_whitespace()) =>
            {
                cur.end = span.end;
            }
            _ => out.push(span),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacted_text_stays_clean_when_a_name_is_a_word_of_a_placeholder() {
        // Found by the property test: a participant named "À" matched the "a" of
        // "[a participant]" after redaction.
        let ctx = Context {
            people: vec![Person {
                display_name: "À".into(),
                email: "x@example.org".into(),
                affiliation: None,
            }],
            role_counts: vec![],
            allowed: vec![],
        };
        let text = "A ";
        let redacted = redact(text, &scan(text, &ctx));
        assert!(scan(&redacted, &ctx).is_empty(), "{redacted}");
    }

    use super::*;

    fn person(name: &str, email: &str, affiliation: Option<&str>) -> Person {
        Person {
            display_name: name.to_owned(),
            email: email.to_owned(),
            affiliation: affiliation.map(str::to_owned),
        }
    }

    /// A round of Track II regulars.
    fn round() -> Context {
        Context {
            people: vec![
                person(
                    "Aisha Khan",
                    "akhan@issi.org.pk",
                    Some("Institute of Strategic Studies Islamabad"),
                ),
                person(
                    "Ayşe Öztürk",
                    "ayse.ozturk@example.edu.tr",
                    Some("The Brookings Institution"),
                ),
                person("Jose Martinez", "jm@example.org", None),
                person(
                    "Venkat Rao",
                    "v.rao@orfonline.org",
                    Some("Observer Research Foundation"),
                ),
                person("Harpreet Singh", "info@example.in", None),
                person(
                    "Jordan Smith",
                    "a.khan@example.org",
                    Some("Carnegie Endowment for International Peace"),
                ),
                person(
                    "Prof. Ana de la Cruz",
                    "ana@example.mx",
                    Some("Institute for Defence Studies and Analyses (IDSA)"),
                ),
                person("Gen. Tariq von Braun", "tvb@example.de", Some("SIPRI")),
                person("Omar Ali-Khan", "oak@example.jo", Some("UN")),
            ],
            role_counts: vec![
                (Role::CoChair, 2),
                (Role::Rapporteur, 1),
                (Role::Facilitator, 3),
                (Role::Delegate, 20),
                (Role::Observer, 1),
            ],
            allowed: vec![
                "India".into(),
                "Pakistan".into(),
                "Jordan".into(),
                "Sri Lanka".into(),
            ],
        }
    }

    /// The flagged pieces of `text`, with their kinds, for readable assertions.
    fn flagged(text: &str, ctx: &Context) -> Vec<(String, SpanKind)> {
        let chars: Vec<char> = text.chars().collect();
        scan(text, ctx)
            .into_iter()
            .map(|s| (chars[s.start..s.end].iter().collect(), s.kind))
            .collect()
    }

    fn names(text: &str, ctx: &Context) -> Vec<String> {
        flagged(text, ctx).into_iter().map(|(s, _)| s).collect()
    }

    use SpanKind::{Institution as I, Participant as P, RoleHolder as R};

    #[test]
    fn full_names_and_name_parts_are_participants() {
        let ctx = round();
        assert_eq!(
            flagged("Aisha Khan spoke first.", &ctx),
            [("Aisha Khan".into(), P)]
        );
        assert_eq!(flagged("then aisha spoke", &ctx), [("aisha".into(), P)]);
        assert_eq!(flagged("KHAN disagreed", &ctx), [("KHAN".into(), P)]);
        assert_eq!(names("Rao and Singh", &ctx), ["Rao", "Singh"]);
        assert_eq!(names("Venkat\n  Rao", &ctx), ["Venkat\n  Rao"]);
    }

    #[test]
    fn diacritics_fold_both_ways() {
        let ctx = round();
        // Name with diacritics, text without.
        assert_eq!(names("ayse ozturk agreed", &ctx), ["ayse ozturk"]);
        assert_eq!(names("AYSE", &ctx), ["AYSE"]);
        assert_eq!(names("Ozturk's paper", &ctx), ["Ozturk"]);
        // Name without diacritics, text with.
        assert_eq!(names("José Martínez", &ctx), ["José Martínez"]);
        assert_eq!(names("Öztürk and MARTÍNEZ", &ctx), ["Öztürk", "MARTÍNEZ"]);
        // Decomposed input (e + combining acute) and letters that do not decompose.
        assert_eq!(names("Jose\u{301} said", &ctx), ["Jose\u{301}"]);
        let turkish = Context {
            people: vec![person("Işık Gül", "", None)],
            ..Context::default()
        };
        assert_eq!(names("isik and GUL", &turkish), ["isik", "GUL"]);
        // Full-width letters and invisible characters do not hide a name.
        assert_eq!(names("ＫＨＡＮ", &ctx), ["ＫＨＡＮ"]);
        assert_eq!(names("Kh\u{AD}an", &ctx), ["Kh\u{AD}an"]);
        assert_eq!(names("Kh\u{200D}an", &ctx), ["Kh\u{200D}an"]);
        assert_eq!(names("Aisha\u{200B}Khan", &ctx).len(), 2);
    }

    #[test]
    fn surnames_inside_other_words_are_not_flagged() {
        let ctx = Context {
            people: vec![
                person("Imran Khan", "", None),
                person("Venkat Rao", "", None),
                person("Harpreet Singh", "", None),
            ],
            ..Context::default()
        };
        for text in [
            "Khanna spoke",
            "the Khanate",
            "Raoul agreed",
            "Singhal noted",
            "Imrana",
            "Prao",
            "khans",
        ] {
            assert_eq!(scan(text, &ctx), [], "{text}");
        }
    }

    #[test]
    fn possessives_and_punctuation_are_word_boundaries() {
        let ctx = round();
        assert_eq!(names("Khan's view", &ctx), ["Khan"]);
        assert_eq!(names("Khan’s view", &ctx), ["Khan"]);
        assert_eq!(names("(Khan)", &ctx), ["Khan"]);
        assert_eq!(names("Khan-led panel", &ctx), ["Khan"]);
        assert_eq!(names("«Singh»", &ctx), ["Singh"]);
    }

    #[test]
    fn emails_are_participants() {
        let ctx = round();
        assert_eq!(
            flagged("Write to <akhan@issi.org.pk> today", &ctx),
            [("akhan@issi.org.pk".into(), P)]
        );
        assert_eq!(
            names("… wrote to a.khan@example.org.", &ctx),
            ["a.khan@example.org"]
        );
        assert_eq!(names("AKHAN@ISSI.ORG.PK", &ctx), ["AKHAN@ISSI.ORG.PK"]);
        // The local part alone, as a whole word.
        assert_eq!(names("ask akhan", &ctx), ["akhan"]);
        assert_eq!(names("ping tvb.", &ctx), ["tvb"]);
        assert_eq!(names("makhan and akhanov", &ctx), Vec::<String>::new());
        // Short and generic local parts are not flagged alone.
        assert_eq!(names("jm info", &ctx), Vec::<String>::new());
        assert_eq!(names("info@example.in", &ctx), ["info@example.in"]);
    }

    #[test]
    fn affiliations_and_acronyms_are_institutions() {
        let ctx = round();
        assert_eq!(
            flagged("the institute of strategic studies islamabad paper", &ctx),
            [("institute of strategic studies islamabad".into(), I)]
        );
        assert_eq!(flagged("ISSI's paper", &ctx), [("ISSI".into(), I)]);
        assert_eq!(names("ORF and CEIP", &ctx), ["ORF", "CEIP"]);
        // Acronyms match in capitals only and as whole words.
        assert_eq!(
            names("issi, Issi, ISSIs, MISSION, orf", &ctx),
            Vec::<String>::new()
        );
        // A leading "The" is optional; a parenthesised alias and an all-caps name count.
        assert_eq!(
            names("Brookings Institution", &ctx),
            ["Brookings Institution"]
        );
        assert_eq!(names("IDSA and SIPRI", &ctx), ["IDSA", "SIPRI"]);
        assert_eq!(names("idsa and sipri", &ctx), Vec::<String>::new());
        assert_eq!(
            names("Institute for Defence Studies and Analyses", &ctx),
            ["Institute for Defence Studies and Analyses"]
        );
        // Too short to flag alone.
        assert_eq!(names("the UN said", &ctx), Vec::<String>::new());
    }

    #[test]
    fn rare_role_titles_are_role_holders() {
        let two = round();
        assert_eq!(flagged("the co-chair said", &two), [("co-chair".into(), R)]);
        assert_eq!(
            names(
                "The Co-Chairs, a co chair, the cochair, a Co-Chairperson",
                &two
            ),
            ["Co-Chairs", "co chair", "cochair", "Co-Chairperson"]
        );
        assert_eq!(names("the Rapporteur noted", &two), ["Rapporteur"]);
        // Facilitators (3), delegates and observers are never flagged; nor is "chair" alone.
        assert_eq!(
            names(
                "the facilitator, the delegate, an observer, the chair",
                &two
            ),
            Vec::<String>::new()
        );
        // Nobody convenes this round.
        assert_eq!(names("the convenor", &two), Vec::<String>::new());

        let three = Context {
            role_counts: vec![(Role::CoChair, 3)],
            ..round()
        };
        assert_eq!(names("the co-chair said", &three), Vec::<String>::new());
        let one_convenor = Context {
            role_counts: vec![(Role::Convenor, 1), (Role::Delegate, 1)],
            ..Context::default()
        };
        assert_eq!(
            names("the convener and the delegate", &one_convenor),
            ["convener"]
        );
        assert_eq!(names("co-chairing", &two), Vec::<String>::new());
    }

    #[test]
    fn allowed_side_names_shield_name_parts_only() {
        let ctx = round();
        assert_eq!(names("Jordan and India agreed", &ctx), Vec::<String>::new());
        assert_eq!(names("Jordan's position", &ctx), Vec::<String>::new());
        assert_eq!(names("Jordan Smith said", &ctx), ["Jordan Smith"]);
        assert_eq!(names("Smith said", &ctx), ["Smith"]);
        assert_eq!(names("JORDAN SMITH", &ctx), ["JORDAN SMITH"]);
        // An allowed word overlapping a flagged name shields nothing.
        let lanka = Context {
            people: vec![
                person("Sri Perera", "", None),
                person("Lanka Perera", "", None),
            ],
            allowed: vec!["Sri Lanka".into()],
            ..Context::default()
        };
        assert_eq!(names("Sri Lanka's view", &lanka), Vec::<String>::new());
        assert_eq!(names("Sri Lanka Perera", &lanka), ["Sri Lanka Perera"]);
    }

    #[test]
    fn overlapping_matches_merge_into_the_longest() {
        let ctx = round();
        let spans = scan("Aisha Khan", &ctx);
        assert_eq!(
            spans,
            [Span {
                start: 0,
                end: 10,
                kind: P
            }]
        );
        // Hyphenated surname as a whole and in parts.
        assert_eq!(
            names("Ali-Khan and Omar Ali Khan", &ctx),
            ["Ali-Khan", "Omar Ali Khan"]
        );
        // A name overlapping an institution: one span, kind of the longer match.
        let overlap = Context {
            people: vec![person("Raza Carnegie", "", Some("Carnegie Endowment"))],
            ..Context::default()
        };
        assert_eq!(
            flagged("Raza Carnegie Endowment", &overlap),
            [("Raza Carnegie Endowment".into(), I)]
        );
        assert_eq!(
            flagged("the Carnegie Endowment", &overlap),
            [("Carnegie Endowment".into(), I)]
        );
        // Honorifics: the full name with or without them, never the honorific alone.
        assert_eq!(
            names("Prof. Ana de la Cruz", &ctx),
            ["Prof. Ana de la Cruz"]
        );
        assert_eq!(names("Prof Ana", &ctx), ["Ana"]);
        assert_eq!(
            names("Gen. Tariq von Braun", &ctx),
            ["Gen. Tariq von Braun"]
        );
        assert_eq!(names("gen von der Leyen, Braun", &ctx), ["Braun"]);
    }

    #[test]
    fn multi_line_text_and_multi_byte_offsets() {
        let ctx = round();
        let text = "Ἀθῆναι — नीमराना 🙂\nAisha\nKhan's point; ISSI\r\nthe co-chair.";
        let spans = scan(text, &ctx);
        let chars: Vec<char> = text.chars().collect();
        let start = chars.iter().position(|&c| c == 'A').unwrap();
        assert_eq!(
            spans[0],
            Span {
                start,
                end: start + 10,
                kind: P
            }
        );
        assert_eq!(
            flagged(text, &ctx),
            [
                ("Aisha\nKhan".into(), P),
                ("ISSI".into(), I),
                ("co-chair".into(), R)
            ]
        );
        assert_eq!(
            redact(text, &spans),
            "Ἀθῆναι — नीमराना 🙂\n[a participant]'s point; [an institution]\r\nthe [a role-holder]."
        );
    }

    #[test]
    fn redact_writes_the_placeholders() {
        let ctx = round();
        let cases = [
            (
                "Dr. Aisha Khan of ISSI, the co-chair, said",
                "Dr. [a participant] of [an institution], the [a role-holder], said",
            ),
            (
                "Öztürk (ayse.ozturk@example.edu.tr) and the Rapporteur",
                "[a participant] ([a participant]) and the [a role-holder]",
            ),
            ("Jordan and Pakistan agreed.", "Jordan and Pakistan agreed."),
            ("Aisha Rao", "[a participant]"),
            ("", ""),
        ];
        for (text, want) in cases {
            assert_eq!(ctx.guard().redact(text), want, "{text}");
            assert_eq!(redact(text, &scan(text, &ctx)), want, "{text}");
        }
    }

    #[test]
    fn redact_tolerates_any_spans() {
        let span = |start, end| Span {
            start,
            end,
            kind: P,
        };
        assert_eq!(
            redact("héllo wörld", &[span(6, 99)]),
            "héllo [a participant]"
        );
        assert_eq!(redact("héllo", &[span(3, 1), span(9, 12)]), "héllo");
        assert_eq!(
            redact("abcdefgh", &[span(4, 6), span(0, 2), span(1, 5)]),
            "[a participant]gh"
        );
    }

    #[test]
    fn an_empty_context_flags_nothing() {
        let empty = Context::default();
        assert!(empty.guard().is_empty());
        assert_eq!(scan("Aisha Khan, the co-chair, ISSI", &empty), []);
        let only_allowed = Context {
            allowed: vec!["India".into()],
            ..Context::default()
        };
        assert!(only_allowed.guard().is_empty());
        let blank = Context {
            people: vec![person("  ", "", Some(""))],
            role_counts: vec![(Role::Delegate, 1), (Role::CoChair, 0)],
            ..Context::default()
        };
        assert_eq!(scan("anything at all", &blank), []);
    }

    /// xorshift64*: deterministic, no extra crate.
    struct Rng(u64);
    impl Rng {
        fn roll(&mut self) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize
        }
        fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
            list[self.roll() % list.len()]
        }
    }

    #[test]
    fn redacted_text_scans_clean() {
        let mut ctx = round();
        ctx.people.push(person("Sri Perera", "", None));
        ctx.people.push(person("Lanka Perera", "", None));
        let guard = ctx.guard();
        let mut flagged_texts = 0;
        // Space-separated; separators come from `seps`.
        let words: Vec<&str> = concat!(
            "Aisha Khan KHAN khanna Öztürk Ozturk Ayşe José Martinez Rao Raoul Singh ",
            "Singhal Jordan Smith India Sri Lanka ISSI issi ORF Brookings Institution ",
            "The Institute of Strategic Studies Islamabad co-chair co chair rapporteur ",
            "delegate akhan@issi.org.pk a.khan example.org @ Dr. Ali-Khan Omar Ali Prof. ",
            "Ana de la Cruz IDSA SIPRI Tariq von Braun Perera नीमराना 🙂 Ἀθῆναι e\u{301} ",
            "\u{301} \u{200B} ＫＨＡＮ 's ’ ( ) « » — ½ ß İ",
        )
        .split(' ')
        .collect();
        let seps = [
            " ", " ", " ", "", "\n", ", ", ". ", "-", "'", ".", "\u{A0}", "\r\n", "\t",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..500 {
            let n = rng.roll() % 30;
            let mut text = String::new();
            for _ in 0..n {
                text.push_str(rng.pick(&words));
                text.push_str(rng.pick(&seps));
            }
            let spans = guard.scan(&text);
            flagged_texts += usize::from(!spans.is_empty());
            let len = text.chars().count();
            for w in spans.windows(2) {
                assert!(w[0].end <= w[1].start, "{text:?}: {spans:?}");
            }
            for s in &spans {
                assert!(s.start < s.end && s.end <= len, "{text:?}: {spans:?}");
            }
            let redacted = redact(&text, &spans);
            let again = guard.scan(&redacted);
            assert!(again.is_empty(), "{text:?} → {redacted:?}: {again:?}");
        }
        assert!(flagged_texts > 250, "{flagged_texts} of 500");
    }

    #[test]
    fn a_large_text_with_thirty_participants_scans() {
        let mut ctx = round();
        for i in 0..30 {
            ctx.people.push(person(
                &format!("Person{i} Surname{i}"),
                &format!("p{i}.s{i}@example.org"),
                Some(&format!("Centre Number {i} for Studies")),
            ));
        }
        let guard = ctx.guard();
        let chunk =
            "Öztürk noted that the co-chair and Surname7 of ISSI — नीमराना — met in Jordan. ";
        let text = chunk.repeat(64 * 1024 / chunk.len() + 1);
        let started = std::time::Instant::now();
        let spans = guard.scan(&text);
        let elapsed = started.elapsed();
        let repeats = text.matches("Öztürk").count();
        assert_eq!(spans.len(), 4 * repeats);
        eprintln!("scanned {} bytes in {elapsed:?}", text.len());
    }
}
