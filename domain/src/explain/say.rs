//! The sentences a person reads about a KPI, in English and Russian, made from the items
//! (never stored): [`explanation`] of a closed result, [`advice`] for an open period's
//! outlook. Pure; times are shown in the company's time zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::kpi_result;

use super::{Item, ItemKind, ItemOutcome, Outlook, OutlookItem};
use crate::kpi::{Policy, Reason, round_half_away};
use crate::stored;

/// The language of a sentence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    #[default]
    En,
    Ru,
}

impl Lang {
    /// The language an `Accept-Language` header prefers among those we speak, by quality
    /// (`ru;q=0.9, en;q=0.8` is Russian); English when it names neither.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut fields = part.split(';');
            let tag = fields.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = fields
                .filter_map(|f| f.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let lang = match primary {
                "ru" => Lang::Ru,
                "en" => Lang::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }

    fn pick<'a>(self, en: &'a str, ru: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Ru => ru,
        }
    }
}

/// A figure with two decimals: `104.44`, in Russian `104,44`.
fn num(lang: Lang, x: f64) -> String {
    let s = format!("{:.2}", round_half_away(x, 100.0) as f64 / 100.0);
    match lang {
        Lang::En => s,
        Lang::Ru => s.replace('.', ","),
    }
}

fn hundredths(lang: Lang, x100: i64) -> String {
    num(lang, x100 as f64 / 100.0)
}

/// `n` with the noun in the right form: English one/other, Russian one/few/many.
pub fn count(lang: Lang, n: usize, en: (&str, &str), ru: (&str, &str, &str)) -> String {
    let noun = match lang {
        Lang::En if n == 1 => en.0,
        Lang::En => en.1,
        Lang::Ru => {
            let (tens, units) = (n % 100, n % 10);
            if (11..=14).contains(&tens) {
                ru.2
            } else if units == 1 {
                ru.0
            } else if (2..=4).contains(&units) {
                ru.1
            } else {
                ru.2
            }
        }
    };
    format!("{n} {noun}")
}

fn kind_noun(lang: Lang, kind: ItemKind) -> &'static str {
    match (lang, kind) {
        (Lang::En, ItemKind::NothingOwed) => "nothing owed",
        (Lang::En, ItemKind::Duty) => "duty",
        (Lang::En, ItemKind::Additional) => "additional work",
        (Lang::En, ItemKind::Acceptance) => "acceptance",
        (Lang::En, ItemKind::Reading) => "reading",
        (Lang::En, ItemKind::Vote) => "vote",
        (Lang::En, ItemKind::Target) => "target",
        (Lang::Ru, ItemKind::NothingOwed) => "ничего не требовалось",
        (Lang::Ru, ItemKind::Duty) => "обязанность",
        (Lang::Ru, ItemKind::Additional) => "доп. работа",
        (Lang::Ru, ItemKind::Acceptance) => "приёмка",
        (Lang::Ru, ItemKind::Reading) => "прочтение",
        (Lang::Ru, ItemKind::Vote) => "голосование",
        (Lang::Ru, ItemKind::Target) => "цель",
    }
}

fn outcome_word(lang: Lang, outcome: ItemOutcome) -> &'static str {
    match (lang, outcome) {
        (Lang::En, ItemOutcome::OnTime) => "on time",
        (Lang::En, ItemOutcome::Late) => "late",
        (Lang::En, ItemOutcome::Missed) => "missed",
        (Lang::En, ItemOutcome::Scored) => "scored",
        (Lang::Ru, ItemOutcome::OnTime) => "в срок",
        (Lang::Ru, ItemOutcome::Late) => "с опозданием",
        (Lang::Ru, ItemOutcome::Missed) => "не выполнено",
        (Lang::Ru, ItemOutcome::Scored) => "учтена",
    }
}

fn quoted(lang: Lang, title: &str) -> String {
    match lang {
        Lang::En => format!("“{title}”"),
        Lang::Ru => format!("«{title}»"),
    }
}

/// `10 Dec 18:00` (`10 дек 18:00`) in the company's time zone.
fn when(lang: Lang, at: DateTime<Utc>, tz: Tz) -> String {
    const RU: [&str; 12] = [
        "янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек",
    ];
    let local = at.with_timezone(&tz);
    match lang {
        Lang::En => local.format("%-d %b %H:%M").to_string(),
        Lang::Ru => {
            use chrono::Datelike;
            let month = RU[local.month0() as usize];
            format!("{} {month} {}", local.day(), local.format("%H:%M"))
        }
    }
}

/// Why a bonus was refused, one clause per reason.
fn reason_clause(lang: Lang, reason: Reason, result: &Facts) -> String {
    match (lang, reason) {
        (Lang::En, Reason::DutyMissed) => format!(
            "{} missed",
            count(
                lang,
                result.duties_missed,
                ("duty was", "duties were"),
                ("", "", "")
            )
        ),
        (Lang::Ru, Reason::DutyMissed) => {
            format!("не выполнено обязанностей: {}", result.duties_missed)
        }
        (Lang::En, Reason::DutyLate) => format!(
            "{} late, and at most {} may be",
            count(
                lang,
                result.duties_late,
                ("duty was", "duties were"),
                ("", "", "")
            ),
            result.max_late_duties
        ),
        (Lang::Ru, Reason::DutyLate) => format!(
            "обязанностей с опозданием: {}, а допускается не больше {}",
            result.duties_late, result.max_late_duties
        ),
        (Lang::En, Reason::KpiBelowThreshold) => format!(
            "the KPI {} is below the threshold of {}",
            hundredths(lang, result.kpi_x100),
            num(lang, result.bonus_min_kpi)
        ),
        (Lang::Ru, Reason::KpiBelowThreshold) => format!(
            "KPI {} ниже порога {}",
            hundredths(lang, result.kpi_x100),
            num(lang, result.bonus_min_kpi)
        ),
    }
}

/// What the sentences about a result need to know of it.
struct Facts {
    kpi_x100: i64,
    duties_missed: usize,
    duties_late: usize,
    max_late_duties: u32,
    bonus_min_kpi: f64,
}

/// The bonus sentence: paid at a factor, or refused with its reasons.
fn bonus_sentence(
    lang: Lang,
    eligible: bool,
    factor_x10000: i64,
    reasons: &[Reason],
    facts: &Facts,
) -> String {
    if eligible {
        let factor = format!("{:.4}", factor_x10000 as f64 / 10_000.0);
        return match lang {
            Lang::En => format!("The bonus is paid at a factor of {factor}."),
            Lang::Ru => format!(
                "Премия выплачивается с коэффициентом {}.",
                factor.replace('.', ",")
            ),
        };
    }
    let clauses: Vec<String> = reasons
        .iter()
        .map(|r| reason_clause(lang, *r, facts))
        .collect();
    match lang {
        Lang::En => format!("No bonus: {}.", clauses.join("; ")),
        Lang::Ru => format!("Премии нет: {}.", clauses.join("; ")),
    }
}

/// The items that cost the most points, most first, at most three.
fn costliest(items: &[Item]) -> Vec<&Item> {
    let mut lost: Vec<&Item> = items.iter().filter(|i| i.points_lost >= 0.005).collect();
    lost.sort_by(|a, b| b.points_lost.total_cmp(&a.points_lost));
    lost.truncate(3);
    lost
}

fn item_phrase(lang: Lang, i: &Item) -> String {
    let title = if i.title.is_empty() {
        kind_noun(lang, i.kind).to_owned()
    } else {
        quoted(lang, &i.title)
    };
    format!(
        "{title} ({}, {}: −{})",
        kind_noun(lang, i.kind),
        outcome_word(lang, i.outcome),
        num(lang, i.points_lost)
    )
}

/// Three or four sentences on a closed result: what its KPI is made of, which items cost
/// the most points, and why the bonus was paid or refused. A result closed before items
/// were stored says so and gives its tally instead.
pub fn explanation(
    result: &kpi_result::Model,
    items: &[Item],
    policy: &Policy,
    lang: Lang,
) -> String {
    let facts = Facts {
        kpi_x100: result.kpi_x100,
        duties_missed: usize::try_from(result.duties_missed).unwrap_or(0),
        duties_late: usize::try_from(result.duties_late).unwrap_or(0),
        max_late_duties: policy.max_late_duties,
        bonus_min_kpi: policy.bonus_min_kpi,
    };
    let kpi = hundredths(lang, result.kpi_x100);
    let discipline = hundredths(lang, result.discipline_x100);
    let mut out = Vec::new();
    let owed = items
        .iter()
        .filter(|i| !matches!(i.kind, ItemKind::Target | ItemKind::NothingOwed))
        .count();
    let obligations = |n| {
        count(
            lang,
            n,
            ("obligation", "obligations"),
            ("обязательство", "обязательства", "обязательств"),
        )
    };
    if !result.itemized {
        let tally = stored::tally_of(result).unwrap_or_default();
        let n = tally.iter().map(|t| t.count as usize).sum();
        out.push(match lang {
            Lang::En => format!(
                "KPI {kpi} (discipline {discipline}, {}). This result was closed before Zeroboard stored obligations one by one, so only its totals are known.",
                obligations(n)
            ),
            Lang::Ru => format!(
                "KPI {kpi} (дисциплина {discipline}, {}). Этот результат закрыт до того, как Zeroboard начал хранить обязательства по одному, поэтому известны только итоги.",
                obligations(n)
            ),
        });
    } else {
        out.push(match (lang, result.targets_x100) {
            (Lang::En, None) => format!("KPI {kpi} is the discipline over {}.", obligations(owed)),
            (Lang::Ru, None) => format!("KPI {kpi} — это дисциплина (обязательств: {owed})."),
            (Lang::En, Some(t)) => format!(
                "KPI {kpi} combines discipline {discipline} over {} and targets {} ({:.0}% and {:.0}%).",
                obligations(owed),
                hundredths(lang, t),
                policy.discipline_share * 100.0,
                (1.0 - policy.discipline_share) * 100.0
            ),
            (Lang::Ru, Some(t)) => format!(
                "KPI {kpi} складывается из дисциплины {discipline} (обязательств: {owed}) и целей {} ({:.0}% и {:.0}%).",
                hundredths(lang, t),
                policy.discipline_share * 100.0,
                (1.0 - policy.discipline_share) * 100.0
            ),
        });
        let worst = costliest(items);
        out.push(if worst.is_empty() {
            lang.pick(
                "Every obligation was met on time and no points were lost.",
                "Все обязательства выполнены в срок, баллы не потеряны.",
            )
            .to_owned()
        } else {
            let phrases: Vec<String> = worst.iter().map(|i| item_phrase(lang, i)).collect();
            let total: f64 = items.iter().map(|i| i.points_lost).sum();
            match lang {
                Lang::En => format!(
                    "Most points were lost on {}; {} points were lost in all.",
                    phrases.join(", "),
                    num(lang, total)
                ),
                Lang::Ru => format!(
                    "Больше всего баллов потеряно на: {}; всего потеряно {}.",
                    phrases.join(", "),
                    num(lang, total)
                ),
            }
        });
    }
    out.push(bonus_sentence(
        lang,
        result.eligible,
        result.bonus_factor_x10000,
        &stored::reasons_of(result),
        &facts,
    ));
    out.join(" ")
}

/// What to do before the period closes: the bonus verdict as of now and what would change
/// it, the obligations still owed with their deadlines and what each is worth, and what is
/// already late.
pub fn advice(outlook: &Outlook, policy: &Policy, tz: Tz, lang: Lang) -> Vec<String> {
    let now_kpi = hundredths(lang, outlook.if_nothing_more.kpi_x100);
    let best_kpi = hundredths(lang, outlook.if_all_on_time.kpi_x100);
    let owed: Vec<&OutlookItem> = outlook.items.iter().filter(|i| i.still.is_some()).collect();
    let mut out = Vec::new();
    let mut named: Vec<&OutlookItem> = Vec::new();
    let duty_keeps_bonus: Vec<&OutlookItem> = owed
        .iter()
        .copied()
        .filter(|i| i.item.kind == ItemKind::Duty && i.still == Some(ItemOutcome::OnTime))
        .collect();
    if outlook.if_nothing_more.eligible {
        out.push(match lang {
            Lang::En => format!("The bonus is yours even if nothing more is done: KPI {now_kpi}."),
            Lang::Ru => format!("Премия будет, даже если больше ничего не делать: KPI {now_kpi}."),
        });
    } else if outlook.if_all_on_time.eligible {
        out.push(match lang {
            Lang::En => format!(
                "The bonus is within reach: KPI {best_kpi} with everything still owed done on time, {now_kpi} with nothing more."
            ),
            Lang::Ru => format!(
                "Премия достижима: KPI {best_kpi}, если всё оставшееся сделать в срок, и {now_kpi}, если больше ничего не делать."
            ),
        });
        named = duty_keeps_bonus.iter().copied().take(3).collect();
        for i in &named {
            let (title, due) = (
                quoted(lang, &i.item.title),
                i.item.due_at.map(|d| when(lang, d, tz)),
            );
            out.push(match lang {
                Lang::En => format!(
                    "Submit {title} by {} to keep the bonus.",
                    due.unwrap_or_default()
                ),
                Lang::Ru => format!(
                    "Сдайте {title} до {}, чтобы сохранить премию.",
                    due.unwrap_or_default()
                ),
            });
        }
    } else {
        let facts = Facts {
            kpi_x100: outlook.if_all_on_time.kpi_x100,
            duties_missed: outlook.if_all_on_time.duties_missed as usize,
            duties_late: outlook.if_all_on_time.duties_late as usize,
            max_late_duties: policy.max_late_duties,
            bonus_min_kpi: policy.bonus_min_kpi,
        };
        let clauses: Vec<String> = outlook
            .if_all_on_time
            .reasons
            .iter()
            .map(|r| reason_clause(lang, *r, &facts))
            .collect();
        out.push(match lang {
            Lang::En => format!(
                "The bonus is out of reach even with everything still owed done on time: {}.",
                clauses.join("; ")
            ),
            Lang::Ru => format!(
                "Премии не будет, даже если всё оставшееся сделать в срок: {}.",
                clauses.join("; ")
            ),
        });
    }
    // What each obligation still owed is worth, soonest first, beyond the duties named.
    let mut rest: Vec<&OutlookItem> = owed
        .iter()
        .copied()
        .filter(|i| !named.iter().any(|n| std::ptr::eq(*n, *i)))
        .collect();
    // A target has no deadline of its own (it is due when the period closes): last.
    rest.sort_by_key(|i| (i.item.due_at.is_none(), i.item.due_at));
    for i in rest.iter().take(4) {
        out.push(owed_sentence(lang, i, tz));
    }
    if rest.len() > 4 {
        let n = rest.len() - 4;
        out.push(match lang {
            Lang::En => format!(
                "…and {}.",
                count(
                    lang,
                    n,
                    ("more obligation", "more obligations"),
                    ("", "", "")
                )
            ),
            Lang::Ru => format!("…и ещё обязательств: {n}."),
        });
    }
    // What is already lost to lateness, by kind.
    for kind in ItemKind::ALL {
        let late: Vec<&Item> = outlook
            .items()
            .filter(|i| i.kind == kind && i.outcome == ItemOutcome::Late)
            .collect();
        if late.is_empty() {
            continue;
        }
        let lost: Vec<String> = late.iter().map(|i| num(lang, i.points_lost)).collect();
        let each = lost.iter().all(|l| *l == lost[0]);
        let n = late.len();
        let noun = late_noun(lang, kind, n);
        out.push(match (lang, each) {
            (Lang::En, true) if n > 1 => format!("{noun} already late: −{} points each.", lost[0]),
            (Lang::En, _) => format!(
                "{noun} already late: −{} points.",
                num(lang, late.iter().map(|i| i.points_lost).sum())
            ),
            (Lang::Ru, true) if n > 1 => {
                format!("{noun} с опозданием: −{} балла за каждое.", lost[0])
            }
            (Lang::Ru, _) => format!(
                "{noun} с опозданием: −{} балла.",
                num(lang, late.iter().map(|i| i.points_lost).sum())
            ),
        });
    }
    out
}

fn late_noun(lang: Lang, kind: ItemKind, n: usize) -> String {
    match (lang, kind) {
        (Lang::En, _) => {
            let (one, many) = match kind {
                ItemKind::Duty => ("duty is", "duties are"),
                ItemKind::Additional => ("additional assignment is", "additional assignments are"),
                ItemKind::Acceptance => ("acceptance is", "acceptances are"),
                ItemKind::Reading => ("reading is", "readings are"),
                _ => ("item is", "items are"),
            };
            count(lang, n, (one, many), ("", "", ""))
        }
        (Lang::Ru, _) => {
            let noun = match kind {
                ItemKind::Duty => "Обязанностей",
                ItemKind::Additional => "Доп. работ",
                ItemKind::Acceptance => "Приёмок",
                ItemKind::Reading => "Прочтений",
                _ => "Пунктов",
            };
            format!("{noun}: {n},")
        }
    }
}

fn owed_sentence(lang: Lang, i: &OutlookItem, tz: Tz) -> String {
    let gain = num(lang, i.points_if_done.unwrap_or(0.0) - i.item.points);
    let title = quoted(lang, &i.item.title);
    let due = i.item.due_at.map(|d| when(lang, d, tz)).unwrap_or_default();
    let late = i.still == Some(ItemOutcome::Late);
    match (lang, i.item.kind, late) {
        (Lang::En, ItemKind::Target, _) => {
            format!("Record the actual of {title}: +{gain} points at its target.")
        }
        (Lang::Ru, ItemKind::Target, _) => {
            format!("Внесите факт по цели {title}: +{gain} при выполнении.")
        }
        (Lang::En, _, true) => format!(
            "{title} ({}) is past its deadline of {due}: done now it still gives +{gain} points.",
            kind_noun(lang, i.item.kind)
        ),
        (Lang::Ru, _, true) => format!(
            "{title} ({}): срок {due} прошёл, но если сделать сейчас, это ещё +{gain}.",
            kind_noun(lang, i.item.kind)
        ),
        (Lang::En, kind, false) => {
            let verb = match kind {
                ItemKind::Acceptance => "Decide on",
                ItemKind::Reading => "Read",
                ItemKind::Vote => "Vote on",
                _ => "Submit",
            };
            format!("{verb} {title} by {due}: +{gain} points.")
        }
        (Lang::Ru, kind, false) => {
            let verb = match kind {
                ItemKind::Acceptance => "Примите решение по",
                ItemKind::Reading => "Прочитайте",
                ItemKind::Vote => "Проголосуйте по",
                _ => "Сдайте",
            };
            format!("{verb} {title} до {due}: +{gain}.")
        }
    }
}
