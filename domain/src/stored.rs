//! The stored forms of a result's judgement: the tally per obligation kind and outcome
//! (`kpi_result.obligations`, JSON) and the reason codes (`kpi_result.reasons`, comma
//! separated). The close writes them with [`tally`] and [`reasons`]; the API and the export
//! read them back with [`tally_of`] and [`reasons_of`]. Pure.

use entity::kpi_result;
use serde::{Deserialize, Serialize};

use crate::kpi::{ObligationKind, Outcome, Reason, Tally};

/// One stored tally row: `{"kind":"duty","outcome":"on_time","count":3,"weight":3.0}`.
#[derive(Serialize, Deserialize)]
struct Row {
    kind: ObligationKind,
    outcome: Outcome,
    count: u32,
    /// Null in results stored before weights were bounded, when the sum overflowed to
    /// infinity (JSON has no infinity); read as the largest finite weight, which is what
    /// the formula now saturates at, so such a result stays readable.
    weight: Option<f64>,
}

/// The stored form of a tally.
pub fn tally(tally: &[Tally]) -> String {
    let rows: Vec<Row> = tally
        .iter()
        .map(|t| Row {
            kind: t.kind,
            outcome: t.outcome,
            count: t.count,
            weight: Some(t.weight),
        })
        .collect();
    serde_json::to_string(&rows).expect("a tally always serialises")
}

/// A stored result's tally.
pub fn tally_of(result: &kpi_result::Model) -> Result<Vec<Tally>, serde_json::Error> {
    let rows: Vec<Row> = serde_json::from_str(&result.obligations)?;
    Ok(rows
        .into_iter()
        .map(|r| Tally {
            kind: r.kind,
            outcome: r.outcome,
            count: r.count,
            weight: r.weight.unwrap_or(f64::MAX),
        })
        .collect())
}

/// The stored form of reasons: their codes, comma separated, in order.
pub fn reasons(reasons: &[Reason]) -> String {
    reasons
        .iter()
        .map(|r| r.code())
        .collect::<Vec<_>>()
        .join(",")
}

/// A stored result's reasons, in the order stored (a code this build does not know is
/// skipped rather than failing the whole result).
pub fn reasons_of(result: &kpi_result::Model) -> Vec<Reason> {
    result
        .reasons
        .split(',')
        .filter_map(|code| {
            [
                Reason::DutyMissed,
                Reason::DutyLate,
                Reason::KpiBelowThreshold,
            ]
            .into_iter()
            .find(|r| r.code() == code)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(obligations: &str, reasons: &str) -> kpi_result::Model {
        kpi_result::Model {
            id: 1,
            period_id: 1,
            employee_id: 1,
            policy_version: 1,
            kpi_x100: 0,
            discipline_x100: 0,
            targets_x100: None,
            eligible: false,
            bonus_factor_x10000: 0,
            reasons: reasons.into(),
            duties_missed: 0,
            duties_late: 0,
            obligations: obligations.into(),
            computed_at: chrono::DateTime::UNIX_EPOCH,
            itemized: false,
        }
    }

    #[test]
    fn a_tally_reads_back_as_written() {
        let written = vec![
            Tally {
                kind: ObligationKind::Duty,
                outcome: Outcome::OnTime,
                count: 3,
                weight: 3.0,
            },
            Tally {
                kind: ObligationKind::Reading,
                outcome: Outcome::Late,
                count: 1,
                weight: 0.25,
            },
        ];
        let json = tally(&written);
        assert_eq!(
            json,
            r#"[{"kind":"duty","outcome":"on_time","count":3,"weight":3.0},{"kind":"reading","outcome":"late","count":1,"weight":0.25}]"#
        );
        assert_eq!(tally_of(&result(&json, "")).unwrap(), written);
    }

    #[test]
    fn an_overflowed_weight_reads_as_the_largest_finite_one() {
        let old = r#"[{"kind":"duty","outcome":"missed","count":2,"weight":null}]"#;
        assert_eq!(tally_of(&result(old, "")).unwrap()[0].weight, f64::MAX);
        assert!(tally_of(&result("not json", "")).is_err());
    }

    #[test]
    fn reasons_read_back_in_order() {
        use Reason::*;
        let codes = reasons(&[DutyLate, KpiBelowThreshold]);
        assert_eq!(codes, "DUTY_LATE,KPI_BELOW_THRESHOLD");
        assert_eq!(
            reasons_of(&result("[]", &codes)),
            [DutyLate, KpiBelowThreshold]
        );
        assert_eq!(reasons_of(&result("[]", "")), []);
        assert_eq!(
            reasons_of(&result("[]", "DUTY_MISSED,SOMETHING_NEW")),
            [DutyMissed]
        );
    }
}
