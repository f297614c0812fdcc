//! iCalendar (RFC 5545) export of rounds and their timed agenda items.
//!
//! [`round_calendar`] writes one round with its items (`GET /api/v1/rounds/{id}/calendar.ics`);
//! [`feed_calendar`] writes several rounds with their items in one calendar (the per-user feed).
//!
//! What a calendar client gets:
//!
//! * **The round** as an all-day event: `DTSTART;VALUE=DATE` of its first day and
//!   `DTEND;VALUE=DATE` of the day after its last (RFC 5545 ends are exclusive), with its
//!   location, `STATUS:CONFIRMED` or `STATUS:CANCELLED`.
//! * **Each timed item** as an event in the round's zone: `DTSTART;TZID=<zone>:<local time>`.
//!   The one local time that cannot name its instant is the second pass through a repeated
//!   hour when the clocks go back (RFC 5545 §3.3.5 reads an ambiguous local time as the first
//!   occurrence); such an item is written in UTC (`…Z`) instead, so every client lands on the
//!   same instant. A dropped item, and every item of a cancelled round, is `STATUS:CANCELLED`.
//! * **Stable identity**: `UID` is `round-<id>@backchannel` or `agenda-<id>@backchannel`, and
//!   `SEQUENCE` comes from the caller and increases with every change, so a client updates (or
//!   cancels) the event it already has instead of adding a duplicate. `DTSTAMP` and
//!   `LAST-MODIFIED` are the record's `last_modified`, which makes the output a pure function of
//!   its input (the same data always gives the same bytes).
//! * **A `VTIMEZONE` per zone**, generated from chrono-tz: every UTC-offset transition whose
//!   local onset falls in the years the events cover (earliest to latest, inclusive), found by
//!   scanning hour by hour and narrowing down to the second, each as a `STANDARD` or `DAYLIGHT`
//!   observance (`DAYLIGHT` when chrono-tz reports a positive DST offset), plus one observance
//!   at 1 January of the first year giving the offset in force before the first transition.
//!   A zone without transitions in that span gets a single `STANDARD` observance starting
//!   `19700101T000000` with its offset. A span of more than 30 years (a mistyped date) is cut
//!   down to the runs of years that actually hold an event, so the work stays bounded.
//!
//! The text is written by hand rather than through a builder crate: CRLF line endings, content
//! lines folded at 75 octets without splitting a UTF-8 character, TEXT values escaped
//! (backslash, `;`, `,`, newline; other control characters, which TEXT may not carry, are
//! dropped). The tests parse the output back with the `icalendar` crate's parser.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, SubsecRound, TimeZone, Utc,
};
use chrono_tz::{OffsetComponents, OffsetName, Tz};

/// A round, as its calendar event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarRound {
    pub id: String,
    pub title: String,
    /// IANA zone name, e.g. "Asia/Kolkata" or "Europe/London" (already validated).
    pub timezone: String,
    pub starts_on: NaiveDate,
    /// Inclusive.
    pub ends_on: NaiveDate,
    /// e.g. "Neemrana Fort-Palace, Neemrana, India"
    pub location: Option<String>,
    /// Increases whenever the round changes.
    pub sequence: i32,
    pub cancelled: bool,
    pub last_modified: DateTime<Utc>,
}

/// A timed agenda item, as its calendar event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarItem {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Increases whenever the item changes.
    pub sequence: i32,
    /// A dropped item: STATUS:CANCELLED.
    pub cancelled: bool,
    pub last_modified: DateTime<Utc>,
}

/// The `PRODID` of every calendar written here.
pub const PRODID: &str = "-//backchannel//backchannel//EN";

/// How often a subscribed feed asks to be refreshed (`REFRESH-INTERVAL`, `X-PUBLISHED-TTL`).
const FEED_REFRESH: &str = "PT1H";

/// One VCALENDAR with the round as an all-day event (DTSTART;VALUE=DATE of starts_on, DTEND;VALUE=DATE
/// of the day after ends_on) and each item as a timed event in the round's zone
/// (DTSTART;TZID=<zone>:YYYYMMDDTHHMMSS local time), with a VTIMEZONE for the zone.
pub fn round_calendar(round: &CalendarRound, items: &[CalendarItem]) -> String {
    let mut w = Writer::default();
    begin_calendar(&mut w);
    let mut zones = ZoneSpans::default();
    zones.add(round, items);
    zones.write(&mut w);
    write_round(&mut w, round, items);
    w.line("END:VCALENDAR");
    w.finish()
}

/// Several rounds (each with its items) in one VCALENDAR, one VTIMEZONE per distinct zone.
pub fn feed_calendar(name: &str, rounds: &[(CalendarRound, Vec<CalendarItem>)]) -> String {
    let mut w = Writer::default();
    begin_calendar(&mut w);
    w.text("NAME", name);
    w.text("X-WR-CALNAME", name);
    w.line(&format!("REFRESH-INTERVAL;VALUE=DURATION:{FEED_REFRESH}"));
    w.line(&format!("X-PUBLISHED-TTL:{FEED_REFRESH}"));
    let mut zones = ZoneSpans::default();
    for (round, items) in rounds {
        zones.add(round, items);
    }
    zones.write(&mut w);
    for (round, items) in rounds {
        write_round(&mut w, round, items);
    }
    w.line("END:VCALENDAR");
    w.finish()
}

fn begin_calendar(w: &mut Writer) {
    w.line("BEGIN:VCALENDAR");
    w.line(&format!("PRODID:{PRODID}"));
    w.line("VERSION:2.0");
    w.line("CALSCALE:GREGORIAN");
    w.line("METHOD:PUBLISH");
}

/// The round's zone, or `None` for a name chrono-tz does not know (the caller validates it, but
/// a stale name must not break the export: its items are then written in UTC).
fn zone_of(round: &CalendarRound) -> Option<Tz> {
    round.timezone.parse::<Tz>().ok()
}

fn write_round(w: &mut Writer, round: &CalendarRound, items: &[CalendarItem]) {
    let tz = zone_of(round);
    let status = |cancelled: bool| {
        if cancelled {
            "STATUS:CANCELLED"
        } else {
            "STATUS:CONFIRMED"
        }
    };

    w.line("BEGIN:VEVENT");
    w.text("UID", &format!("round-{}@backchannel", round.id));
    w.line(&format!("DTSTAMP:{}", utc_stamp(round.last_modified)));
    w.line(&format!("SEQUENCE:{}", round.sequence.max(0)));
    let last_day = round.ends_on.max(round.starts_on);
    w.line(&format!("DTSTART;VALUE=DATE:{}", date(round.starts_on)));
    // iCalendar years have four digits: a round ending on 9999-12-31 gets no DTEND (a DTEND
    // after it could not be written), which leaves it a one-day event.
    if let Some(end) = last_day.succ_opt().filter(|d| d.year() <= 9999) {
        w.line(&format!("DTEND;VALUE=DATE:{}", date(end)));
    }
    w.text("SUMMARY", &round.title);
    if let Some(location) = round.location.as_deref().filter(|l| !l.trim().is_empty()) {
        w.text("LOCATION", location);
    }
    w.line(status(round.cancelled));
    w.line(&format!("LAST-MODIFIED:{}", utc_stamp(round.last_modified)));
    w.line("END:VEVENT");

    for item in items {
        w.line("BEGIN:VEVENT");
        w.text("UID", &format!("agenda-{}@backchannel", item.id));
        w.line(&format!("DTSTAMP:{}", utc_stamp(item.last_modified)));
        w.line(&format!("SEQUENCE:{}", item.sequence.max(0)));
        let start = item.starts_at.trunc_subsecs(0);
        let end = item.ends_at.trunc_subsecs(0);
        // An end that is not after the start is left out: the event is then an instant.
        let has_end = end > start;
        match tz.filter(|&tz| local_names(tz, start) && (!has_end || local_names(tz, end))) {
            Some(tz) => {
                let tzid = param_value(tz.name());
                w.line(&format!("DTSTART;TZID={tzid}:{}", local_stamp(tz, start)));
                if has_end {
                    w.line(&format!("DTEND;TZID={tzid}:{}", local_stamp(tz, end)));
                }
            }
            None => {
                w.line(&format!("DTSTART:{}", utc_stamp(start)));
                if has_end {
                    w.line(&format!("DTEND:{}", utc_stamp(end)));
                }
            }
        }
        w.text("SUMMARY", &item.title);
        if let Some(description) = item.description.as_deref().filter(|d| !d.trim().is_empty()) {
            w.text("DESCRIPTION", description);
        }
        w.line(status(item.cancelled || round.cancelled));
        w.line(&format!("LAST-MODIFIED:{}", utc_stamp(item.last_modified)));
        w.line("END:VEVENT");
    }
}

/// Whether the local time of `instant` in `tz` leads a client back to `instant`: an ambiguous
/// local time means its first occurrence (RFC 5545 §3.3.5), so the second one does not.
fn local_names(tz: Tz, instant: DateTime<Utc>) -> bool {
    let local = instant.with_timezone(&tz).naive_local();
    tz.from_local_datetime(&local)
        .earliest()
        .is_some_and(|back| back.with_timezone(&Utc) == instant)
}

fn date(day: NaiveDate) -> String {
    day.format("%Y%m%d").to_string()
}

fn local_stamp(tz: Tz, instant: DateTime<Utc>) -> String {
    naive_stamp(instant.with_timezone(&tz).naive_local())
}

fn naive_stamp(local: NaiveDateTime) -> String {
    local.format("%Y%m%dT%H%M%S").to_string()
}

fn utc_stamp(instant: DateTime<Utc>) -> String {
    instant.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A UTC offset as RFC 5545 §3.3.14 writes it: `±HHMM`, or `±HHMMSS` when the seconds are not
/// zero; zero is `+0000` (`-0000` is not allowed).
fn utc_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    if s == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{s:02}")
    }
}

/// Up to this many years from the earliest event year to the latest, a VTIMEZONE describes every
/// year in between; past it (a round mistyped to end in 9999, say) only the runs of years that
/// hold an event, so that the work stays bounded by the events rather than by their spread.
const MAX_SPAN_YEARS: i32 = 30;

/// The zones the events use, in order of first use, each with the years its events fall in.
#[derive(Default)]
struct ZoneSpans(Vec<(Tz, BTreeSet<i32>)>);

impl ZoneSpans {
    fn add(&mut self, round: &CalendarRound, items: &[CalendarItem]) {
        let Some(tz) = zone_of(round) else {
            return;
        };
        let years = match self.0.iter().position(|(known, _)| *known == tz) {
            Some(i) => &mut self.0[i].1,
            None => {
                self.0.push((tz, BTreeSet::new()));
                &mut self.0.last_mut().expect("just pushed").1
            }
        };
        years.extend([round.starts_on.year(), round.ends_on.year()]);
        for item in items {
            years.insert(item.starts_at.with_timezone(&tz).year());
            years.insert(item.ends_at.with_timezone(&tz).year());
        }
    }

    fn write(&self, w: &mut Writer) {
        for (tz, years) in &self.0 {
            write_vtimezone(w, *tz, &year_runs(years));
        }
    }
}

/// The spans of years to describe, as (first, last) inclusive: one span from the earliest year to
/// the latest, or, past [`MAX_SPAN_YEARS`], each run of consecutive years.
fn year_runs(years: &BTreeSet<i32>) -> Vec<(i32, i32)> {
    let (Some(&first), Some(&last)) = (years.first(), years.last()) else {
        return Vec::new();
    };
    if last - first < MAX_SPAN_YEARS {
        return vec![(first, last)];
    }
    let mut runs: Vec<(i32, i32)> = Vec::new();
    for &year in years {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == year => *end = year,
            _ => runs.push((year, year)),
        }
    }
    runs
}

/// One STANDARD or DAYLIGHT sub-component of a VTIMEZONE.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observance {
    daylight: bool,
    /// Local time of the onset, in the offset in force before it (RFC 5545 §3.6.5).
    onset: NaiveDateTime,
    from: i32,
    to: i32,
    name: Option<String>,
}

fn write_vtimezone(w: &mut Writer, tz: Tz, runs: &[(i32, i32)]) {
    w.line("BEGIN:VTIMEZONE");
    w.text("TZID", tz.name());
    for obs in observances(tz, runs) {
        let kind = if obs.daylight { "DAYLIGHT" } else { "STANDARD" };
        w.line(&format!("BEGIN:{kind}"));
        w.line(&format!("DTSTART:{}", naive_stamp(obs.onset)));
        w.line(&format!("TZOFFSETFROM:{}", utc_offset(obs.from)));
        w.line(&format!("TZOFFSETTO:{}", utc_offset(obs.to)));
        if let Some(name) = &obs.name {
            w.text("TZNAME", name);
        }
        w.line(&format!("END:{kind}"));
    }
    w.line("END:VTIMEZONE");
}

/// The offset of `tz` at `instant`: seconds east of UTC, whether it is daylight time, and the
/// abbreviation chrono-tz gives (for a zone whose tzdata name is numeric, such as "+1030" in
/// Australia/Lord_Howe, chrono-tz gives none, and the numeric form is rebuilt the way tzdata
/// writes it).
fn offset_at(tz: Tz, instant: DateTime<Utc>) -> (i32, bool, Option<String>) {
    let offset = tz.offset_from_utc_datetime(&instant.naive_utc());
    let seconds = offset.fix().local_minus_utc();
    let name = match offset.abbreviation() {
        Some(name) => name.to_owned(),
        None => numeric_abbreviation(seconds),
    };
    (seconds, offset.dst_offset() > Duration::zero(), Some(name))
}

/// tzdata's numeric abbreviation: `+11`, `+1030`, `-0330`, `-004430`.
fn numeric_abbreviation(seconds: i32) -> String {
    let formatted = utc_offset(seconds);
    match formatted.strip_suffix("00") {
        Some(hours) if formatted.len() == 5 => hours.to_owned(),
        _ => formatted,
    }
}

fn seconds_east(tz: Tz, instant: DateTime<Utc>) -> i32 {
    offset_at(tz, instant).0
}

fn new_year(year: i32) -> Option<NaiveDateTime> {
    NaiveDate::from_ymd_opt(year, 1, 1).map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"))
}

/// The observances describing `tz` over the given spans of years: for each span, one observance
/// at local midnight on 1 January of its first year (unless a change falls exactly then) and one
/// per change of UTC offset whose local onset lies in the span. A zone whose offset never changes
/// over the spans gets a single STANDARD observance from 1970 on.
fn observances(tz: Tz, runs: &[(i32, i32)]) -> Vec<Observance> {
    let mut all = Vec::new();
    let mut changes_seen = false;
    for &(first, last) in runs {
        let (Some(start), Some(end)) = (new_year(first), new_year(last.saturating_add(1))) else {
            continue;
        };
        let changes = changes_between(tz, start, end);
        changes_seen |= !changes.is_empty();
        if changes.first().is_none_or(|c| c.onset > start) {
            // The offset in force at local midnight on 1 January.
            let at = tz
                .from_local_datetime(&start)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| start.and_utc());
            let (offset, daylight, name) = offset_at(tz, at);
            all.push(Observance {
                daylight,
                onset: start,
                from: offset,
                to: offset,
                name,
            });
        }
        all.extend(changes);
    }
    let Some(first) = all.first().cloned() else {
        let (offset, _, name) = offset_at(tz, Utc::now());
        return vec![constant_observance(offset, name)];
    };
    if !changes_seen && all.iter().all(|o| o.to == first.to) {
        return vec![constant_observance(first.to, first.name)];
    }
    all
}

/// The changes of UTC offset whose local onset (in the offset before) lies in `[start, end)`.
fn changes_between(tz: Tz, start: NaiveDateTime, end: NaiveDateTime) -> Vec<Observance> {
    // Scan a day beyond both ends in UTC (offsets stay within a day), then keep the changes
    // whose local onset lies in the span.
    let scan_from = start.and_utc() - Duration::days(1);
    let scan_to = end.and_utc() + Duration::days(1);
    transitions(tz, scan_from, scan_to)
        .into_iter()
        .map(|at| {
            let from = seconds_east(tz, at - Duration::seconds(1));
            let (to, daylight, name) = offset_at(tz, at);
            Observance {
                daylight,
                onset: at.naive_utc() + Duration::seconds(i64::from(from)),
                from,
                to,
                name,
            }
        })
        .filter(|o| o.onset >= start && o.onset < end)
        .collect()
}

/// A zone with a constant offset: one STANDARD observance from 1970 on.
fn constant_observance(offset: i32, name: Option<String>) -> Observance {
    Observance {
        daylight: false,
        onset: new_year(1970).expect("1970"),
        from: offset,
        to: offset,
        name,
    }
}

/// Every instant in `[from, to)` at which the UTC offset of `tz` changes: the first second of the
/// new offset. Scans hour by hour (no zone changes twice within an hour), then narrows each
/// change down to the second.
fn transitions(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let step = Duration::hours(1);
    let mut found = Vec::new();
    let mut at = from;
    let mut offset = seconds_east(tz, at);
    while at < to {
        let next = (at + step).min(to);
        let next_offset = seconds_east(tz, next);
        if next_offset != offset {
            // Invariant: `lo` has the old offset, `hi` does not.
            let (mut lo, mut hi) = (at, next);
            while hi - lo > Duration::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if seconds_east(tz, mid) == offset {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            found.push(hi);
        }
        at = next;
        offset = next_offset;
    }
    found
}

/// A TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and line breaks escaped; other
/// control characters, which TEXT may not contain, dropped.
fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("\\n");
                }
            }
            '\t' => out.push('\t'),
            c if c.is_ascii_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value (RFC 5545 §3.1): quoted when it holds `:`, `;` or `,`; double quotes and
/// control characters, which it may not contain, dropped.
fn param_value(value: &str) -> String {
    let clean: String = value
        .chars()
        .filter(|&c| c != '"' && !c.is_ascii_control())
        .collect();
    if clean.contains([':', ';', ',']) {
        format!("\"{clean}\"")
    } else {
        clean
    }
}

/// Appends `line` as a content line: folded so that no physical line exceeds 75 octets (the
/// continuation's leading space included), never inside a UTF-8 character, ended by CRLF.
fn fold_into(out: &mut String, line: &str) {
    const LIMIT: usize = 75;
    let mut used = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if used + len > LIMIT {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += len;
    }
    out.push_str("\r\n");
}

#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    /// A content line, written as given (already escaped).
    fn line(&mut self, line: &str) {
        fold_into(&mut self.out, line);
    }

    /// A property with a TEXT value, escaped.
    fn text(&mut self, name: &str, value: &str) {
        self.line(&format!("{name}:{}", escape_text(value)));
    }

    fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parsed component, owned, for assertions.
    #[derive(Debug, Clone)]
    struct Comp {
        name: String,
        props: Vec<Prop>,
        children: Vec<Comp>,
    }

    #[derive(Debug, Clone)]
    struct Prop {
        name: String,
        params: Vec<(String, Option<String>)>,
        value: String,
    }

    impl Prop {
        fn param(&self, key: &str) -> Option<&str> {
            self.params
                .iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.as_deref())
        }
    }

    impl Comp {
        fn from_parsed(c: &icalendar::parser::Component<'_>) -> Comp {
            Comp {
                name: c.name.as_str().to_owned(),
                props: c
                    .properties
                    .iter()
                    .map(|p| Prop {
                        name: p.name.as_str().to_owned(),
                        params: p
                            .params
                            .iter()
                            .map(|q| {
                                (
                                    q.key.as_str().to_owned(),
                                    q.val.as_ref().map(|v| v.as_str().to_owned()),
                                )
                            })
                            .collect(),
                        value: p.val.as_str().to_owned(),
                    })
                    .collect(),
                children: c.components.iter().map(Comp::from_parsed).collect(),
            }
        }

        fn prop(&self, name: &str) -> &Prop {
            self.try_prop(name)
                .unwrap_or_else(|| panic!("{} has no {name}: {self:#?}", self.name))
        }

        fn try_prop(&self, name: &str) -> Option<&Prop> {
            self.props.iter().find(|p| p.name == name)
        }

        fn value(&self, name: &str) -> &str {
            &self.prop(name).value
        }

        fn children(&self, name: &str) -> Vec<&Comp> {
            self.children.iter().filter(|c| c.name == name).collect()
        }

        fn event(&self, uid: &str) -> &Comp {
            self.children
                .iter()
                .find(|c| c.name == "VEVENT" && c.value("UID") == uid)
                .unwrap_or_else(|| panic!("no VEVENT {uid}"))
        }
    }

    /// Checks the physical form (CRLF only, no line over 75 octets), then parses `text` with the
    /// `icalendar` crate's parser and returns its single VCALENDAR.
    fn parse(text: &str) -> Comp {
        assert!(text.ends_with("\r\n"), "ends with CRLF");
        assert!(
            !text.replace("\r\n", "").contains(['\r', '\n']),
            "only CRLF line endings"
        );
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "line over 75 octets: {line:?}");
        }
        let unfolded = icalendar::parser::unfold(text);
        let roots = icalendar::parser::read_components(&unfolded)
            .unwrap_or_else(|e| panic!("does not parse: {e}\n{text}"));
        assert_eq!(roots.len(), 1, "one root component");
        let cal = Comp::from_parsed(&roots[0]);
        assert_eq!(cal.name, "VCALENDAR");
        assert_eq!(cal.value("PRODID"), PRODID);
        assert_eq!(cal.value("VERSION"), "2.0");
        assert_eq!(cal.value("CALSCALE"), "GREGORIAN");
        assert_eq!(cal.value("METHOD"), "PUBLISH");
        cal
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse::<DateTime<Utc>>().expect("RFC 3339 instant")
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn round(zone: &str, starts_on: &str, ends_on: &str) -> CalendarRound {
        CalendarRound {
            id: "r1".into(),
            title: "Round one".into(),
            timezone: zone.into(),
            starts_on: day(starts_on),
            ends_on: day(ends_on),
            location: Some("Neemrana Fort-Palace, Neemrana, India".into()),
            sequence: 3,
            cancelled: false,
            last_modified: utc("2027-01-05T10:11:12.345Z"),
        }
    }

    fn item(id: &str, starts_at: &str, ends_at: &str) -> CalendarItem {
        CalendarItem {
            id: id.into(),
            title: format!("Item {id}"),
            description: None,
            starts_at: utc(starts_at),
            ends_at: utc(ends_at),
            sequence: 1,
            cancelled: false,
            last_modified: utc("2027-02-01T08:00:00Z"),
        }
    }

    /// What a client does with a `DTSTART`/`DTEND` using only chrono-tz (no VTIMEZONE): a UTC
    /// value as is; a TZID local time as its first occurrence (RFC 5545 §3.3.5).
    fn instant_via_chrono_tz(p: &Prop) -> DateTime<Utc> {
        if let Some(utc) = p.value.strip_suffix('Z') {
            assert!(p.param("TZID").is_none());
            return NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S")
                .expect("UTC date-time")
                .and_utc();
        }
        let tz: Tz = p.param("TZID").expect("TZID").parse().expect("IANA zone");
        let local = NaiveDateTime::parse_from_str(&p.value, "%Y%m%dT%H%M%S").expect("local");
        tz.from_local_datetime(&local)
            .earliest()
            .expect("an existing local time")
            .with_timezone(&Utc)
    }

    fn offset_value(s: &str) -> i32 {
        let (sign, digits) = match s.as_bytes()[0] {
            b'+' => (1, &s[1..]),
            b'-' => (-1, &s[1..]),
            _ => panic!("offset without sign: {s}"),
        };
        assert!(digits.len() == 4 || digits.len() == 6, "offset {s}");
        let n = |r: std::ops::Range<usize>| digits.get(r).map_or(0, |d| d.parse::<i32>().unwrap());
        sign * (n(0..2) * 3600 + n(2..4) * 60 + n(4..6))
    }

    /// A VTIMEZONE as a client without zone data of its own reads it.
    struct ParsedZone {
        /// (onset in UTC, offset from, offset to), in order.
        changes: Vec<(NaiveDateTime, i32, i32)>,
    }

    impl ParsedZone {
        fn new(vtz: &Comp) -> ParsedZone {
            let mut changes: Vec<_> = vtz
                .children
                .iter()
                .map(|obs| {
                    assert!(obs.name == "STANDARD" || obs.name == "DAYLIGHT");
                    let onset =
                        NaiveDateTime::parse_from_str(obs.value("DTSTART"), "%Y%m%dT%H%M%S")
                            .expect("local onset");
                    let from = offset_value(obs.value("TZOFFSETFROM"));
                    let to = offset_value(obs.value("TZOFFSETTO"));
                    (onset - Duration::seconds(i64::from(from)), from, to)
                })
                .collect();
            assert!(!changes.is_empty(), "a VTIMEZONE has observances");
            changes.sort_by_key(|c| c.0);
            ParsedZone { changes }
        }

        fn offset_at(&self, utc: NaiveDateTime) -> i32 {
            match self.changes.iter().rev().find(|c| c.0 <= utc) {
                Some(c) => c.2,
                None => self.changes[0].1,
            }
        }

        /// Local → UTC, the first occurrence for an ambiguous time.
        fn to_utc(&self, local: NaiveDateTime) -> NaiveDateTime {
            let mut offsets: Vec<i32> = self.changes.iter().flat_map(|c| [c.1, c.2]).collect();
            offsets.sort_unstable();
            offsets.dedup();
            offsets
                .iter()
                .map(|&o| local - Duration::seconds(i64::from(o)))
                .filter(|&u| self.offset_at(u) == (local - u).num_seconds() as i32)
                .min()
                .expect("an existing local time")
        }
    }

    fn vtimezone<'a>(cal: &'a Comp, tzid: &str) -> &'a Comp {
        let found: Vec<_> = cal
            .children("VTIMEZONE")
            .into_iter()
            .filter(|z| z.value("TZID") == tzid)
            .collect();
        assert_eq!(found.len(), 1, "one VTIMEZONE {tzid}");
        found[0]
    }

    #[test]
    fn escapes_text() {
        assert_eq!(escape_text("a\\b;c,d\ne"), "a\\\\b\\;c\\,d\\ne");
        assert_eq!(escape_text("one\r\ntwo\rthree"), "one\\ntwo\\nthree");
        assert_eq!(escape_text("tab\there\u{0}\u{7f}:ok"), "tab\there:ok");
        assert_eq!(escape_text("नीमराना — ok"), "नीमराना — ok");
    }

    #[test]
    fn quotes_parameter_values() {
        assert_eq!(param_value("Europe/London"), "Europe/London");
        assert_eq!(param_value("a;b\"c"), "\"a;bc\"");
    }

    #[test]
    fn folds_at_75_octets_on_character_boundaries() {
        let mut out = String::new();
        fold_into(&mut out, &"x".repeat(75));
        assert_eq!(out, format!("{}\r\n", "x".repeat(75)));

        let mut out = String::new();
        fold_into(&mut out, &"x".repeat(76));
        assert_eq!(out, format!("{}\r\n x\r\n", "x".repeat(75)));

        // Three-octet characters after one ASCII octet: 1 + 24 * 3 = 73, and the 25th would
        // make 76, so it starts the next line.
        let line = format!("S{}", "न".repeat(60));
        let mut out = String::new();
        fold_into(&mut out, &line);
        let physical: Vec<&str> = out.trim_end_matches("\r\n").split("\r\n").collect();
        assert_eq!(physical[0].len(), 73);
        for (i, p) in physical.iter().enumerate() {
            assert!(p.len() <= 75);
            assert_eq!(i > 0, p.starts_with(' '));
        }
        assert_eq!(icalendar::parser::unfold(&out), format!("{line}\r\n"));
    }

    #[test]
    fn formats_utc_offsets() {
        assert_eq!(utc_offset(0), "+0000");
        assert_eq!(utc_offset(3600), "+0100");
        assert_eq!(utc_offset(19_800), "+0530");
        assert_eq!(utc_offset(-18_000), "-0500");
        assert_eq!(utc_offset(-(44 * 60 + 30)), "-004430");
        assert_eq!(utc_offset(19 * 60 + 32), "+001932");
        assert_eq!(utc_offset(45_900), "+1245");
        assert_eq!(numeric_abbreviation(39_600), "+11");
        assert_eq!(numeric_abbreviation(37_800), "+1030");
        assert_eq!(numeric_abbreviation(-12_600), "-0330");
        assert_eq!(numeric_abbreviation(0), "+00");
    }

    #[test]
    fn round_in_london_across_the_spring_change() {
        let r = round("Europe/London", "2027-03-27", "2027-03-29");
        // 2027-03-28 01:00 UTC the clocks go from 01:00 GMT to 02:00 BST.
        let items = [
            item("a1", "2027-03-28T00:30:00Z", "2027-03-28T03:30:00Z"),
            item("a2", "2027-03-27T09:00:00Z", "2027-03-27T10:30:00Z"),
        ];
        let text = round_calendar(&r, &items);
        let cal = parse(&text);

        assert_eq!(cal.children("VEVENT").len(), 3);
        let ev = cal.event("round-r1@backchannel");
        assert_eq!(ev.value("SEQUENCE"), "3");
        assert_eq!(ev.prop("DTSTART").param("VALUE"), Some("DATE"));
        assert_eq!(ev.value("DTSTART"), "20270327");
        assert_eq!(ev.prop("DTEND").param("VALUE"), Some("DATE"));
        assert_eq!(ev.value("DTEND"), "20270330");
        assert_eq!(ev.value("SUMMARY"), "Round one");
        assert_eq!(
            ev.value("LOCATION"),
            "Neemrana Fort-Palace, Neemrana, India"
        );
        assert_eq!(ev.value("STATUS"), "CONFIRMED");
        assert_eq!(ev.value("DTSTAMP"), "20270105T101112Z");
        assert_eq!(ev.value("LAST-MODIFIED"), "20270105T101112Z");

        let a1 = cal.event("agenda-a1@backchannel");
        assert_eq!(a1.value("SEQUENCE"), "1");
        assert_eq!(a1.value("SUMMARY"), "Item a1");
        assert_eq!(a1.value("STATUS"), "CONFIRMED");
        assert!(a1.try_prop("DESCRIPTION").is_none());
        for (p, local) in [("DTSTART", "20270328T003000"), ("DTEND", "20270328T043000")] {
            assert_eq!(a1.prop(p).param("TZID"), Some("Europe/London"));
            assert_eq!(a1.value(p), local);
        }
        let a2 = cal.event("agenda-a2@backchannel");
        assert_eq!(a2.value("DTSTART"), "20270327T090000");
        assert_eq!(a2.value("DTEND"), "20270327T103000");

        // Back to the same instants, through chrono-tz alone and through the VTIMEZONE alone.
        let zone = ParsedZone::new(vtimezone(&cal, "Europe/London"));
        for (ev, it) in [(a1, &items[0]), (a2, &items[1])] {
            for (p, want) in [("DTSTART", it.starts_at), ("DTEND", it.ends_at)] {
                assert_eq!(instant_via_chrono_tz(ev.prop(p)), want, "{p}");
                let local = NaiveDateTime::parse_from_str(ev.value(p), "%Y%m%dT%H%M%S").unwrap();
                assert_eq!(zone.to_utc(local).and_utc(), want, "{p} via VTIMEZONE");
            }
        }

        // The VTIMEZONE: 1 January, then the two changes of 2027.
        let vtz = vtimezone(&cal, "Europe/London");
        let obs: Vec<_> = vtz
            .children
            .iter()
            .map(|o| {
                (
                    o.name.as_str(),
                    o.value("DTSTART"),
                    o.value("TZOFFSETFROM"),
                    o.value("TZOFFSETTO"),
                    o.value("TZNAME"),
                )
            })
            .collect();
        assert_eq!(
            obs,
            [
                ("STANDARD", "20270101T000000", "+0000", "+0000", "GMT"),
                ("DAYLIGHT", "20270328T010000", "+0000", "+0100", "BST"),
                ("STANDARD", "20271031T020000", "+0100", "+0000", "GMT"),
            ]
        );
    }

    #[test]
    fn second_pass_through_the_autumn_hour_is_written_in_utc() {
        let r = round("Europe/London", "2027-10-30", "2027-10-31");
        // 2027-10-31 01:00 UTC the clocks go from 02:00 BST back to 01:00 GMT.
        let items = [
            // 01:30 BST, the first 01:30: local time names it.
            item("first", "2027-10-31T00:30:00Z", "2027-10-31T00:45:00Z"),
            // 01:30 GMT, the second 01:30: a local time would mean the first.
            item("second", "2027-10-31T01:30:00Z", "2027-10-31T02:30:00Z"),
            // Starts in the first 01:xx, ends after the change.
            item("across", "2027-10-31T00:15:00Z", "2027-10-31T03:00:00Z"),
        ];
        let cal = parse(&round_calendar(&r, &items));
        let first = cal.event("agenda-first@backchannel");
        assert_eq!(first.value("DTSTART"), "20271031T013000");
        assert_eq!(first.prop("DTSTART").param("TZID"), Some("Europe/London"));
        let second = cal.event("agenda-second@backchannel");
        assert_eq!(second.value("DTSTART"), "20271031T013000Z");
        assert_eq!(second.value("DTEND"), "20271031T023000Z");
        assert!(second.prop("DTSTART").param("TZID").is_none());
        let across = cal.event("agenda-across@backchannel");
        assert_eq!(across.value("DTSTART"), "20271031T011500");
        assert_eq!(across.value("DTEND"), "20271031T030000");

        let zone = ParsedZone::new(vtimezone(&cal, "Europe/London"));
        for (id, it) in [
            ("first", &items[0]),
            ("second", &items[1]),
            ("across", &items[2]),
        ] {
            let ev = cal.event(&format!("agenda-{id}@backchannel"));
            for (p, want) in [("DTSTART", it.starts_at), ("DTEND", it.ends_at)] {
                assert_eq!(instant_via_chrono_tz(ev.prop(p)), want, "{id} {p}");
                if ev.prop(p).param("TZID").is_some() {
                    let local =
                        NaiveDateTime::parse_from_str(ev.value(p), "%Y%m%dT%H%M%S").unwrap();
                    assert_eq!(zone.to_utc(local).and_utc(), want, "{id} {p} via VTIMEZONE");
                }
            }
        }
    }

    #[test]
    fn text_with_punctuation_newlines_and_devanagari_round_trips() {
        let title = "Kashmir; water, trade — नीमराना";
        let mut r = round("Asia/Kolkata", "2027-11-02", "2027-11-04");
        r.title = format!("{title}, {title}, {title}");
        r.location = Some("Neemrana Fort-Palace, Neemrana, India; C:\\new wing \\ नीमराना".into());
        let mut it = item("a1", "2027-11-02T04:00:00Z", "2027-11-02T05:30:00Z");
        it.title = title.into();
        it.description = Some(format!(
            "Line one; two, three\nनीमराना — {}\r\nend\\",
            "x".repeat(90)
        ));
        let text = round_calendar(&r, std::slice::from_ref(&it));
        assert!(text.contains("\r\n "), "long lines are folded");
        let cal = parse(&text);
        let ev = cal.event("round-r1@backchannel");
        assert_eq!(ev.value("SUMMARY"), r.title);
        assert_eq!(ev.value("LOCATION"), r.location.as_deref().unwrap());
        let ev = cal.event("agenda-a1@backchannel");
        assert_eq!(ev.value("SUMMARY"), title);
        assert_eq!(
            ev.value("DESCRIPTION"),
            it.description.as_deref().unwrap().replace("\r\n", "\n")
        );
    }

    #[test]
    fn zone_without_transitions_gets_one_standard_observance() {
        let r = round("Asia/Kolkata", "2027-11-02", "2027-11-04");
        let it = item("a1", "2027-11-02T04:00:00Z", "2027-11-02T05:30:00Z");
        let cal = parse(&round_calendar(&r, std::slice::from_ref(&it)));
        assert_eq!(cal.children("VTIMEZONE").len(), 1);
        let vtz = vtimezone(&cal, "Asia/Kolkata");
        assert_eq!(vtz.children.len(), 1);
        let std = &vtz.children[0];
        assert_eq!(std.name, "STANDARD");
        assert_eq!(std.value("DTSTART"), "19700101T000000");
        assert_eq!(std.value("TZOFFSETFROM"), "+0530");
        assert_eq!(std.value("TZOFFSETTO"), "+0530");
        assert_eq!(std.value("TZNAME"), "IST");
        let ev = cal.event("agenda-a1@backchannel");
        assert_eq!(ev.prop("DTSTART").param("TZID"), Some("Asia/Kolkata"));
        assert_eq!(ev.value("DTSTART"), "20271102T093000");
        assert_eq!(ev.value("DTEND"), "20271102T110000");
        assert_eq!(instant_via_chrono_tz(ev.prop("DTSTART")), it.starts_at);
    }

    #[test]
    fn cancellations() {
        let mut r = round("Europe/London", "2027-06-01", "2027-06-02");
        let mut dropped = item("gone", "2027-06-01T09:00:00Z", "2027-06-01T10:00:00Z");
        dropped.cancelled = true;
        dropped.sequence = 4;
        let kept = item("kept", "2027-06-01T11:00:00Z", "2027-06-01T12:00:00Z");
        let items = [dropped, kept];

        let cal = parse(&round_calendar(&r, &items));
        assert_eq!(
            cal.event("round-r1@backchannel").value("STATUS"),
            "CONFIRMED"
        );
        let gone = cal.event("agenda-gone@backchannel");
        assert_eq!(gone.value("STATUS"), "CANCELLED");
        assert_eq!(gone.value("SEQUENCE"), "4");
        assert_eq!(
            cal.event("agenda-kept@backchannel").value("STATUS"),
            "CONFIRMED"
        );

        // A cancelled round cancels its items too.
        r.cancelled = true;
        r.sequence = 9;
        let cal = parse(&round_calendar(&r, &items));
        let ev = cal.event("round-r1@backchannel");
        assert_eq!(ev.value("STATUS"), "CANCELLED");
        assert_eq!(ev.value("SEQUENCE"), "9");
        assert_eq!(
            cal.event("agenda-kept@backchannel").value("STATUS"),
            "CANCELLED"
        );
    }

    #[test]
    fn same_data_same_bytes_and_changes_raise_the_sequence() {
        let r = round("Europe/London", "2027-06-01", "2027-06-02");
        let mut items = vec![item("a1", "2027-06-01T09:00:00Z", "2027-06-01T10:00:00Z")];
        let before = round_calendar(&r, &items);
        assert_eq!(before, round_calendar(&r, &items));

        items[0].starts_at = utc("2027-06-01T09:30:00Z");
        items[0].sequence += 1;
        items[0].last_modified = utc("2027-05-20T12:00:00Z");
        let after = parse(&round_calendar(&r, &items));
        let before = parse(&before);
        let (b, a) = (
            before.event("agenda-a1@backchannel"),
            after.event("agenda-a1@backchannel"),
        );
        assert_eq!(b.value("UID"), a.value("UID"));
        assert_eq!(b.value("SEQUENCE"), "1");
        assert_eq!(a.value("SEQUENCE"), "2");
        assert_eq!(a.value("DTSTART"), "20270601T103000");
        assert_eq!(a.value("DTSTAMP"), "20270520T120000Z");
        assert_eq!(a.value("LAST-MODIFIED"), "20270520T120000Z");
    }

    #[test]
    fn feed_has_one_vtimezone_per_zone_covering_all_years() {
        let mut london = round("Europe/London", "2027-03-27", "2027-03-29");
        london.id = "ldn".into();
        let mut delhi = round("Asia/Kolkata", "2027-11-02", "2027-11-04");
        delhi.id = "del".into();
        delhi.location = None;
        let mut london_later = round("Europe/London", "2028-12-30", "2029-01-02");
        london_later.id = "ldn2".into();
        let rounds = vec![
            (
                london,
                vec![item("l1", "2027-03-28T00:30:00Z", "2027-03-28T03:30:00Z")],
            ),
            (
                delhi,
                vec![
                    item("d1", "2027-11-02T04:00:00Z", "2027-11-02T05:30:00Z"),
                    item("d2", "2027-11-03T04:00:00Z", "2027-11-03T05:30:00Z"),
                ],
            ),
            (
                london_later,
                vec![item("l2", "2029-01-01T10:00:00Z", "2029-01-01T11:00:00Z")],
            ),
        ];
        let cal = parse(&feed_calendar("Rounds of Asha, Track II", &rounds));
        assert_eq!(cal.value("X-WR-CALNAME"), "Rounds of Asha, Track II");
        // The parser does not know RFC 7986's NAME is TEXT, so it leaves it escaped.
        assert_eq!(cal.value("NAME"), "Rounds of Asha\\, Track II");
        assert_eq!(cal.value("X-PUBLISHED-TTL"), "PT1H");
        assert_eq!(cal.children("VEVENT").len(), 7);
        assert_eq!(cal.children("VTIMEZONE").len(), 2);
        for uid in [
            "round-ldn",
            "round-del",
            "round-ldn2",
            "agenda-l1",
            "agenda-d2",
        ] {
            cal.event(&format!("{uid}@backchannel"));
        }
        assert!(
            cal.event("round-del@backchannel")
                .try_prop("LOCATION")
                .is_none()
        );
        assert_eq!(
            cal.event("agenda-d1@backchannel")
                .prop("DTSTART")
                .param("TZID"),
            Some("Asia/Kolkata")
        );
        assert_eq!(
            cal.event("agenda-l2@backchannel")
                .prop("DTSTART")
                .param("TZID"),
            Some("Europe/London")
        );

        // London: 2027 through 2029, two changes a year.
        let vtz = vtimezone(&cal, "Europe/London");
        let starts: Vec<_> = vtz.children.iter().map(|o| o.value("DTSTART")).collect();
        assert_eq!(
            starts,
            [
                "20270101T000000",
                "20270328T010000",
                "20271031T020000",
                "20280326T010000",
                "20281029T020000",
                "20290325T010000",
                "20291028T020000",
            ]
        );
        assert_eq!(vtimezone(&cal, "Asia/Kolkata").children.len(), 1);

        // An empty feed is still a calendar.
        let empty = feed_calendar("Nothing yet", &[]);
        assert!(empty.starts_with("BEGIN:VCALENDAR\r\n"));
        assert!(empty.ends_with("END:VCALENDAR\r\n"));
        assert!(!empty.contains("BEGIN:VTIMEZONE"));
    }

    /// The emitted VTIMEZONE, read by a client with no zone data of its own, gives chrono-tz's
    /// offset at every hour of the covered years, for zones with odd rules.
    #[test]
    fn vtimezone_agrees_with_chrono_tz() {
        let cases = [
            ("Europe/London", 2026, 2028),
            ("America/New_York", 2027, 2027),
            ("Australia/Sydney", 2026, 2027),
            ("Australia/Lord_Howe", 2027, 2027),
            ("Pacific/Chatham", 2027, 2028),
            ("Europe/Dublin", 2027, 2027),
            ("America/Sao_Paulo", 2018, 2020),
            ("Africa/Casablanca", 2024, 2026),
            ("Pacific/Apia", 2011, 2012),
            ("Africa/Monrovia", 1971, 1973),
            ("Asia/Kathmandu", 2027, 2027),
            ("UTC", 2027, 2027),
        ];
        for (name, first, last) in cases {
            let tz: Tz = name.parse().unwrap();
            let mut r = round(name, &format!("{first}-06-01"), &format!("{last}-06-02"));
            r.id = name.into();
            let cal = parse(&round_calendar(&r, &[]));
            let vtz = vtimezone(&cal, name);
            let zone = ParsedZone::new(vtz);
            for obs in &vtz.children {
                assert!(obs.try_prop("TZNAME").is_some(), "{name}: TZNAME");
            }
            let start = new_year(first).unwrap();
            let end = new_year(last + 1).unwrap();
            let mut t = start;
            while t < end {
                assert_eq!(
                    zone.offset_at(t),
                    seconds_east(tz, t.and_utc()),
                    "{name} at {t} UTC"
                );
                t += Duration::minutes(30);
            }
        }
    }

    #[test]
    fn offsets_with_seconds() {
        // Liberia moved from -0:44:30 to UTC on 1972-01-07.
        let r = round("Africa/Monrovia", "1971-06-01", "1972-06-01");
        let cal = parse(&round_calendar(&r, &[]));
        let vtz = vtimezone(&cal, "Africa/Monrovia");
        let change = vtz
            .children
            .iter()
            .find(|o| o.value("TZOFFSETFROM") != o.value("TZOFFSETTO"))
            .expect("the 1972 change");
        assert_eq!(change.value("TZOFFSETFROM"), "-004430");
        assert_eq!(change.value("TZOFFSETTO"), "+0000");
        assert_eq!(change.value("DTSTART"), "19720107T000000");
    }

    #[test]
    fn a_wild_span_only_describes_the_years_with_events() {
        let years = |ys: &[i32]| ys.iter().copied().collect::<BTreeSet<i32>>();
        assert_eq!(year_runs(&years(&[])), []);
        assert_eq!(year_runs(&years(&[2027, 2029])), [(2027, 2029)]);
        assert_eq!(
            year_runs(&years(&[2027, 2028, 2090, 9999])),
            [(2027, 2028), (2090, 2090), (9999, 9999)]
        );

        let r = round("Europe/London", "2027-06-01", "9999-12-31");
        let items = [
            item("a1", "2027-06-01T09:00:00Z", "2027-06-01T10:00:00Z"),
            item("a2", "2090-06-01T09:00:00Z", "2090-06-01T10:00:00Z"),
        ];
        let started = std::time::Instant::now();
        let cal = parse(&round_calendar(&r, &items));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let vtz = vtimezone(&cal, "Europe/London");
        let starts: Vec<_> = vtz.children.iter().map(|o| o.value("DTSTART")).collect();
        // chrono-tz's tables stop before 9999, so that year has no changes.
        assert_eq!(starts.len(), 7, "{starts:?}");
        for anchor in ["20270101T000000", "20900101T000000", "99990101T000000"] {
            assert!(starts.contains(&anchor), "{anchor} in {starts:?}");
        }
        let zone = ParsedZone::new(vtz);
        let tz: Tz = "Europe/London".parse().unwrap();
        for year in [2027, 2090] {
            let mut t = new_year(year).unwrap();
            while t < new_year(year + 1).unwrap() {
                assert_eq!(zone.offset_at(t), seconds_east(tz, t.and_utc()), "at {t}");
                t += Duration::minutes(30);
            }
        }
        let ev = cal.event("round-r1@backchannel");
        assert!(ev.try_prop("DTEND").is_none());
    }

    #[test]
    fn unknown_zone_falls_back_to_utc() {
        let r = round("Mars/Olympus_Mons", "2027-06-01", "2027-06-02");
        let it = item("a1", "2027-06-01T09:00:00Z", "2027-06-01T10:00:00Z");
        let cal = parse(&round_calendar(&r, std::slice::from_ref(&it)));
        assert!(cal.children("VTIMEZONE").is_empty());
        let ev = cal.event("agenda-a1@backchannel");
        assert_eq!(ev.value("DTSTART"), "20270601T090000Z");
        assert_eq!(ev.value("DTEND"), "20270601T100000Z");
    }

    #[test]
    fn end_not_after_start_is_left_out() {
        let r = round("Europe/London", "2027-06-01", "2027-06-02");
        let it = item("a1", "2027-06-01T09:00:00Z", "2027-06-01T09:00:00Z");
        let cal = parse(&round_calendar(&r, std::slice::from_ref(&it)));
        let ev = cal.event("agenda-a1@backchannel");
        assert_eq!(ev.value("DTSTART"), "20270601T100000");
        assert!(ev.try_prop("DTEND").is_none());
    }
}
