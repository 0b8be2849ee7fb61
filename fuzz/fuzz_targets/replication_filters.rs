//! Replication policies as clients send them (JSON, Harbor's field names),
//! their checks, their filters (doublestar globs on names and tags) and
//! what they make of events and schedules.
//!
//! Input: a policy as JSON text (an input that begins with `{`; the seeds
//! are such, matched against `library/app:v1` and a few names and tags),
//! or a structure made by `arbitrary`: raw JSON, or a policy written from
//! structured pieces (glob syntax, cron fields, flattening counts, filters
//! of every kind and of the wrong type), with the names and tags to match.
//!
//! Asserts: no panic in parsing, `Policy::validate`, `Filters::compile`
//! (a glob that does not compile is an error), matching, `destination`,
//! `ArtifactEvent::task_for` or the cron schedule a scheduled trigger
//! holds; a policy written out as JSON parses back to itself (policies are
//! stored so); a valid policy's filters compile; a task is made only for
//! an enabled event-based push policy that selects the artifact, from
//! `repo:tag` to a valid destination name.
#![no_main]

use std::str::FromStr;

use arbitrary::Arbitrary;
use harbor_core::{Reference, RepositoryName, Tag, TriggerKind};
use harbor_fuzz::pick::{NamePick, TagPick};
use harbor_replicate::policy::destination;
use harbor_replicate::{ArtifactEvent, Filters, Policy};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

#[derive(Arbitrary, Debug)]
enum GlobPiece {
    Star,
    DoubleStar,
    Question,
    Slash,
    Class(String),
    NegatedClass(String),
    Alternatives(Vec<String>),
    OpenBrace,
    CloseBrace,
    OpenBracket,
    Backslash,
    Literal(String),
}

impl GlobPiece {
    fn text(&self) -> String {
        match self {
            GlobPiece::Star => "*".into(),
            GlobPiece::DoubleStar => "**".into(),
            GlobPiece::Question => "?".into(),
            GlobPiece::Slash => "/".into(),
            GlobPiece::Class(s) => format!("[{s}]"),
            GlobPiece::NegatedClass(s) => format!("[!{s}]"),
            GlobPiece::Alternatives(a) => format!("{{{}}}", a.join(",")),
            GlobPiece::OpenBrace => "{".into(),
            GlobPiece::CloseBrace => "}".into(),
            GlobPiece::OpenBracket => "[".into(),
            GlobPiece::Backslash => "\\".into(),
            GlobPiece::Literal(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum FilterValue {
    Glob(Vec<GlobPiece>),
    Image,
    Artifact,
    Chart,
    Number(i64),
    Null,
    List(Vec<String>),
}

#[derive(Arbitrary, Debug)]
enum Kind {
    Name,
    Tag,
    Label,
    Resource,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Decoration {
    Matches,
    Excludes,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct FilterDoc {
    kind: Kind,
    value: FilterValue,
    decoration: Option<Decoration>,
}

#[derive(Arbitrary, Debug)]
enum CronPiece {
    Star,
    Question,
    Number(u32),
    Range(u32, u32),
    Step(u32, u32),
    StarStep(u32),
    List(Vec<u32>),
    Weekday(u8),
    Month(u8),
    Raw(String),
}

impl CronPiece {
    fn text(&self) -> String {
        const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
        const MONTHS: [&str; 12] = [
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ];
        match self {
            CronPiece::Star => "*".into(),
            CronPiece::Question => "?".into(),
            CronPiece::Number(n) => n.to_string(),
            CronPiece::Range(a, b) => format!("{a}-{b}"),
            CronPiece::Step(a, s) => format!("{a}/{s}"),
            CronPiece::StarStep(s) => format!("*/{s}"),
            CronPiece::List(l) => l.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
            CronPiece::Weekday(d) => DAYS[usize::from(*d) % 7].into(),
            CronPiece::Month(m) => MONTHS[usize::from(*m) % 12].into(),
            CronPiece::Raw(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum TriggerType {
    Manual,
    Scheduled,
    EventBased,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct PolicyDoc {
    name: Option<String>,
    src_registry: Option<i64>,
    dest_registry: Option<i64>,
    dest_namespace: Option<NamePick>,
    replace_count: Option<i64>,
    filters: Vec<FilterDoc>,
    trigger: Option<(TriggerType, Option<Vec<CronPiece>>)>,
    replicate_deletion: Option<bool>,
    deletion: Option<bool>,
    enabled: Option<bool>,
    speed: Option<i64>,
}

impl PolicyDoc {
    fn json(&self) -> Value {
        let mut p = Map::new();
        let mut put = |k: &str, v: Value| {
            p.insert(k.into(), v);
        };
        if let Some(n) = &self.name {
            put("name", n.as_str().into());
        }
        if let Some(id) = self.src_registry {
            put("src_registry", json!({"id": id, "name": "src"}));
        }
        if let Some(id) = self.dest_registry {
            put("dest_registry", json!({"id": id}));
        }
        if let Some(ns) = &self.dest_namespace {
            put("dest_namespace", ns.text().into());
        }
        if let Some(n) = self.replace_count {
            // Mostly the values an i8 holds, sometimes beyond.
            let n = if n % 8 == 0 { n } else { n % 130 };
            put("dest_namespace_replace_count", n.into());
        }
        let filters: Vec<Value> = self
            .filters
            .iter()
            .take(6)
            .map(|f| {
                let kind = match &f.kind {
                    Kind::Name => "name".into(),
                    Kind::Tag => "tag".into(),
                    Kind::Label => "label".into(),
                    Kind::Resource => "resource".into(),
                    Kind::Raw(s) => s.clone(),
                };
                let value = match &f.value {
                    FilterValue::Glob(pieces) => pieces
                        .iter()
                        .take(12)
                        .map(GlobPiece::text)
                        .collect::<String>()
                        .into(),
                    FilterValue::Image => "image".into(),
                    FilterValue::Artifact => "artifact".into(),
                    FilterValue::Chart => "chart".into(),
                    FilterValue::Number(n) => (*n).into(),
                    FilterValue::Null => Value::Null,
                    FilterValue::List(l) => json!(l),
                };
                let mut filter = json!({"type": kind, "value": value});
                if let Some(d) = &f.decoration {
                    filter["decoration"] = match d {
                        Decoration::Matches => "matches".into(),
                        Decoration::Excludes => "excludes".into(),
                        Decoration::Raw(s) => s.as_str().into(),
                    };
                }
                filter
            })
            .collect();
        put("filters", filters.into());
        if let Some((kind, cron)) = &self.trigger {
            let kind = match kind {
                TriggerType::Manual => "manual".into(),
                TriggerType::Scheduled => "scheduled".into(),
                TriggerType::EventBased => "event_based".into(),
                TriggerType::Raw(s) => s.clone(),
            };
            let mut t = json!({"type": kind});
            if let Some(pieces) = cron {
                let cron: Vec<String> = pieces.iter().take(8).map(CronPiece::text).collect();
                t["trigger_settings"] = json!({"cron": cron.join(" ")});
            }
            put("trigger", t);
        }
        if let Some(b) = self.replicate_deletion {
            put("replicate_deletion", b.into());
        }
        if let Some(b) = self.deletion {
            put("deletion", b.into());
        }
        if let Some(b) = self.enabled {
            put("enabled", b.into());
        }
        if let Some(s) = self.speed {
            put("speed", s.into());
        }
        Value::Object(p)
    }
}

#[derive(Arbitrary, Debug)]
enum Source<'a> {
    Json(&'a [u8]),
    Policy(PolicyDoc),
}

#[derive(Arbitrary, Debug)]
struct Structured<'a> {
    repository: NamePick,
    tag: TagPick,
    probes: Vec<&'a str>,
    source: Source<'a>,
}

/// A policy as JSON text (an input that begins with `{`: the seeds are
/// such), or one made by `arbitrary` of anything else.
#[derive(Debug)]
struct Input<'a>(Structured<'a>);

impl<'a> Arbitrary<'a> for Input<'a> {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Structured::arbitrary(u).map(Input)
    }

    fn arbitrary_take_rest(u: arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let data = u.peek_bytes(u.len()).unwrap_or_default();
        if data.starts_with(b"{") {
            return Ok(Input(Structured {
                repository: NamePick::LibraryApp,
                tag: TagPick::V1,
                probes: PROBES.to_vec(),
                source: Source::Json(data),
            }));
        }
        Structured::arbitrary_take_rest(u).map(Input)
    }
}

/// What a JSON policy's filters are matched against.
const PROBES: [&str; 8] = [
    "library/app",
    "library/a/b",
    "other/app",
    "v1",
    "v1.2.3-rc.1",
    "latest",
    "",
    "a/../b",
];

fuzz_target!(|input: Input<'_>| {
    let input = input.0;
    let json = match &input.source {
        Source::Json(b) => b.to_vec(),
        Source::Policy(doc) => serde_json::to_vec(&doc.json()).expect("JSON"),
    };
    let Ok(policy) = serde_json::from_slice::<Policy>(&json) else {
        return;
    };

    // Stored as JSON, read back the same.
    let stored = serde_json::to_vec(&policy).expect("a policy serialises");
    let back = serde_json::from_slice::<Policy>(&stored)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&stored)));
    assert_eq!(back, policy, "{}", String::from_utf8_lossy(&stored));

    let valid = policy.validate().is_ok();
    let filters = Filters::compile(&policy.filters);
    if valid {
        assert!(filters.is_ok(), "a valid policy's filters compile");
    }
    if let Ok(f) = &filters {
        for p in input.probes.iter().take(8) {
            f.repository(p);
            let selected = f.tag(p);
            if !f.has_tag_patterns() {
                assert!(selected, "with no tag pattern every tag is selected");
            }
        }
    }

    let (Ok(repository), Ok(tag)) = (
        RepositoryName::parse(&input.repository.text()),
        Tag::parse(&input.tag.text()),
    ) else {
        return;
    };
    let dest = destination(
        &repository,
        policy.dest_namespace.as_deref(),
        policy.dest_namespace_replace_count,
    );
    if let Ok(d) = &dest {
        let last = repository.as_str().rsplit('/').next().unwrap_or_default();
        assert!(d.as_str().ends_with(last), "{repository} went to {d}");
    }
    let event = ArtifactEvent::push(repository.clone(), Reference::Tag(tag.clone()));
    if let Some(task) = event.task_for(&policy) {
        let event_based = policy
            .trigger
            .as_ref()
            .is_some_and(|t| t.kind == TriggerKind::EventBased);
        assert!(policy.enabled && event_based && policy.dest_registry.is_some());
        let f = filters
            .as_ref()
            .expect("a task comes from filters that compile");
        assert!(f.repository(repository.as_str()) && f.tag(tag.as_str()));
        assert_eq!(task.src_resource, format!("{repository}:{tag}"));
        let (name, t) = task.dst_resource.rsplit_once(':').expect("repo:tag");
        assert!(RepositoryName::parse(name).is_ok() && t == tag.as_str());
        assert_eq!(dest.ok().map(|d| d.to_string()).as_deref(), Some(name));
    }

    // What the cron trigger does with a scheduled policy's expression.
    if let Some(settings) = policy
        .trigger
        .as_ref()
        .and_then(|t| t.trigger_settings.as_ref())
    {
        if let Ok(schedule) = cron::Schedule::from_str(&settings.cron) {
            let now = chrono::Utc::now();
            let mut next = schedule.after(&now);
            let _ = next.next();
            let _ = next.next();
        }
    }
});
