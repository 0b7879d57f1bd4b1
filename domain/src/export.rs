//! The payroll exports of a closed period: one row per employee with a result (the bonus
//! export), and one row per obligation or target of those results (the obligations export,
//! whose points add up per employee to the bonus export's KPI).
//!
//! Figures are stored as fixed-point integers and printed as decimals without going
//! through floating point: KPI and adjustments with two decimals (`104.44`), the bonus
//! factor with four (`0.8500`). CSV and JSON carry the same rows and the same numbers.
//! In CSV the reason codes are joined with `;` so the field never needs quoting.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::PeriodStatus;
use entity::{department, employee, kpi_result, period};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use crate::DomainError;
use crate::auth::Principal;

/// One employee's line in the export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BonusRow {
    pub employee_id: i64,
    pub email: String,
    pub name: String,
    pub department: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub kpi_x100: i64,
    pub eligible: bool,
    pub bonus_factor_x10000: i64,
    /// Reason codes, e.g. `DUTY_LATE`, in the order stored.
    pub reasons: Vec<String>,
    /// The sum of the result's adjustments, in hundredths.
    pub adjustment_total_x100: i64,
    pub policy_version: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no period starts on {0}")]
    NoSuchPeriod(NaiveDate),
    #[error("the period starting on {0} is not closed yet")]
    NotClosed(NaiveDate),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<DomainError> for ExportError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Db(db) => ExportError::Db(db),
            DomainError::Forbidden(m) => ExportError::Forbidden(m),
            other => ExportError::Db(DbErr::Custom(other.to_string())),
        }
    }
}

/// The results of a period, by employee id.
async fn results_of(
    db: &impl ConnectionTrait,
    period_id: i64,
) -> Result<Vec<kpi_result::Model>, DbErr> {
    kpi_result::Entity::find()
        .filter(kpi_result::Column::PeriodId.eq(period_id))
        .order_by_asc(kpi_result::Column::EmployeeId)
        .all(db)
        .await
}

/// The rows of the period starting on `period_starts_on`, by employee id.
pub async fn bonus_rows(
    db: &impl ConnectionTrait,
    who: &Principal,
    period_starts_on: NaiveDate,
) -> Result<Vec<BonusRow>, ExportError> {
    crate::access::require_payroll(who)?;
    let period = closed_period(db, period_starts_on).await?;
    let results = results_of(db, period.id).await?;
    let adjustments = crate::results::adjustment_totals(db, period.id).await?;
    let employees = everyone(db).await?;
    let departments: HashMap<i64, String> = department::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|d| (d.id, d.name))
        .collect();
    Ok(results
        .into_iter()
        .map(|r| {
            let person = employees.get(&r.employee_id);
            BonusRow {
                employee_id: r.employee_id,
                email: person.map(|e| e.email.clone()).unwrap_or_default(),
                name: person.map(|e| e.name.clone()).unwrap_or_default(),
                department: person
                    .and_then(|e| departments.get(&e.department_id))
                    .cloned()
                    .unwrap_or_default(),
                period_start: period.starts_on,
                period_end: period.ends_on,
                kpi_x100: r.kpi_x100,
                eligible: r.eligible,
                bonus_factor_x10000: r.bonus_factor_x10000,
                reasons: crate::stored::reasons_of(&r)
                    .into_iter()
                    .map(|c| c.code().to_owned())
                    .collect(),
                adjustment_total_x100: adjustments.get(&r.id).copied().unwrap_or(0),
                policy_version: r.policy_version,
            }
        })
        .collect())
}

/// The closed period starting on `starts_on`.
async fn closed_period(
    db: &impl ConnectionTrait,
    starts_on: NaiveDate,
) -> Result<period::Model, ExportError> {
    let period = period::Entity::find()
        .filter(period::Column::StartsOn.eq(starts_on))
        .one(db)
        .await?
        .ok_or(ExportError::NoSuchPeriod(starts_on))?;
    if period.status != PeriodStatus::Closed {
        return Err(ExportError::NotClosed(starts_on));
    }
    Ok(period)
}

/// Every employee by id: everyone, rather than an `IN` list of the period's employees,
/// which would outgrow the databases' limits on bound parameters in a large company and
/// saves nothing.
async fn everyone(db: &impl ConnectionTrait) -> Result<HashMap<i64, employee::Model>, DbErr> {
    Ok(employee::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect())
}

/// The column names, shared by CSV and JSON.
pub const COLUMNS: [&str; 12] = [
    "employee_id",
    "email",
    "name",
    "department",
    "period_start",
    "period_end",
    "kpi",
    "eligible",
    "bonus_factor",
    "reasons",
    "adjustment_total",
    "policy_version",
];

/// A fixed-point integer with `digits` decimals, e.g. `decimal(10444, 2)` is `104.44`.
pub fn decimal(value: i64, digits: u32) -> String {
    let scale = 10_u64.pow(digits);
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = digits as usize
    )
}

impl BonusRow {
    /// The row's fields as text, in the order of [`COLUMNS`].
    fn fields(&self) -> [String; 12] {
        [
            self.employee_id.to_string(),
            self.email.clone(),
            self.name.clone(),
            self.department.clone(),
            self.period_start.to_string(),
            self.period_end.to_string(),
            decimal(self.kpi_x100, 2),
            self.eligible.to_string(),
            decimal(self.bonus_factor_x10000, 4),
            self.reasons.join(";"),
            decimal(self.adjustment_total_x100, 2),
            self.policy_version.to_string(),
        ]
    }
}

/// The columns that hold text someone typed (e-mail, name, department) or codes; the
/// others are numbers, dates and booleans that the export writes itself.
const TEXT_COLUMNS: [usize; 4] = [1, 2, 3, 9];

/// A text cell made safe to open in a spreadsheet (OWASP, "CSV Injection"): a cell that
/// begins with `=`, `+`, `-`, `@`, a tab or a carriage return would be read as a formula
/// (`=HYPERLINK(…)`, `@SUM(1)`), so it gets a leading `'`, which spreadsheets show as text
/// and do not display. Only the CSV does this; GraphQL and JSON carry the true value.
pub fn neutralise_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The rows as CSV with a header line. Text columns are neutralised against formula
/// injection ([`neutralise_formula`]); numeric columns stay numbers (a negative
/// adjustment total such as `-1.50` is written as is).
pub fn to_csv(rows: &[BonusRow]) -> String {
    write_csv(COLUMNS, &TEXT_COLUMNS, rows.iter().map(BonusRow::fields))
}

/// The rows as a JSON array of objects with the CSV's column names; figures are JSON
/// numbers with the same decimals as the CSV, reasons an array.
pub fn to_json(rows: &[BonusRow]) -> serde_json::Value {
    let number = |value: i64, digits: u32| -> serde_json::Value {
        decimal(value, digits)
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(serde_json::Value::Null, Into::into)
    };
    rows.iter()
        .map(|r| {
            serde_json::json!({
                "employee_id": r.employee_id,
                "email": r.email,
                "name": r.name,
                "department": r.department,
                "period_start": r.period_start.to_string(),
                "period_end": r.period_end.to_string(),
                "kpi": number(r.kpi_x100, 2),
                "eligible": r.eligible,
                "bonus_factor": number(r.bonus_factor_x10000, 4),
                "reasons": r.reasons,
                "adjustment_total": number(r.adjustment_total_x100, 2),
                "policy_version": r.policy_version,
            })
        })
        .collect()
}

/// One obligation or target of one employee's result, as the close stored it: the fields
/// of the GraphQL `KpiItem`, with the employee named as the bonus export names them.
#[derive(Clone, Debug, PartialEq)]
pub struct ObligationRow {
    pub employee_id: i64,
    pub email: String,
    pub name: String,
    /// `duty`, `additional`, `acceptance`, `reading`, `vote`, `target` or `nothing_owed`.
    pub kind: String,
    pub title: String,
    pub due_at: Option<DateTime<Utc>>,
    pub met_at: Option<DateTime<Utc>>,
    /// `on_time`, `late`, `missed` or `scored`.
    pub outcome: String,
    pub weight: f64,
    pub credit: f64,
    /// Its apportioned contribution in hundredths: an employee's add up to their KPI.
    pub points_x100: i64,
    /// A target's actual / target.
    pub ratio: Option<f64>,
    /// What it would have added met on time, unrounded.
    pub points_lost: f64,
}

/// The items of every result of the period starting on `period_starts_on`, by employee id,
/// then in each result's display order. Results closed before items were stored
/// (`itemized` false) have none.
pub async fn obligation_rows(
    db: &impl ConnectionTrait,
    who: &Principal,
    period_starts_on: NaiveDate,
) -> Result<Vec<ObligationRow>, ExportError> {
    crate::access::require_payroll(who)?;
    let period = closed_period(db, period_starts_on).await?;
    let results = results_of(db, period.id).await?;
    let mut items = crate::read::items::items_of_period(db, period.id).await?;
    let employees = everyone(db).await?;
    let mut rows = Vec::new();
    for r in results {
        let person = employees.get(&r.employee_id);
        for item in items.remove(&r.id).unwrap_or_default() {
            rows.push(ObligationRow {
                employee_id: r.employee_id,
                email: person.map(|e| e.email.clone()).unwrap_or_default(),
                name: person.map(|e| e.name.clone()).unwrap_or_default(),
                kind: item.kind,
                title: item.title,
                due_at: item.due_at,
                met_at: item.met_at,
                outcome: item.outcome,
                weight: item.weight,
                credit: item.credit,
                points_x100: item.points_x100,
                ratio: item.ratio,
                points_lost: item.points_lost,
            });
        }
    }
    Ok(rows)
}

/// The obligations export's column names, shared by CSV and JSON.
pub const OBLIGATION_COLUMNS: [&str; 13] = [
    "employee_id",
    "email",
    "name",
    "kind",
    "title",
    "due_at",
    "met_at",
    "outcome",
    "weight",
    "credit",
    "points",
    "ratio",
    "points_lost",
];

/// Its text columns (e-mail, name, title, and the codes), neutralised in CSV.
const OBLIGATION_TEXT_COLUMNS: [usize; 5] = [1, 2, 3, 4, 7];

/// An instant as RFC 3339 in UTC to the second, or empty.
fn instant(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

impl ObligationRow {
    /// `points_lost` in hundredths, as shown.
    fn lost_x100(&self) -> i64 {
        crate::kpi::round_half_away(self.points_lost, 100.0)
    }

    /// The row's fields as text, in the order of [`OBLIGATION_COLUMNS`].
    fn fields(&self) -> [String; 13] {
        [
            self.employee_id.to_string(),
            self.email.clone(),
            self.name.clone(),
            self.kind.clone(),
            self.title.clone(),
            instant(self.due_at),
            instant(self.met_at),
            self.outcome.clone(),
            self.weight.to_string(),
            self.credit.to_string(),
            decimal(self.points_x100, 2),
            self.ratio
                .map(|r| decimal(crate::kpi::round_half_away(r, 10_000.0), 4))
                .unwrap_or_default(),
            decimal(self.lost_x100(), 2),
        ]
    }
}

/// Writes a header and records to CSV, neutralising the given text columns.
fn write_csv<const N: usize>(
    columns: [&str; N],
    text_columns: &[usize],
    records: impl Iterator<Item = [String; N]>,
) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let safe = |fields: [String; N]| -> Vec<String> {
        fields
            .into_iter()
            .enumerate()
            .map(|(i, cell)| {
                if text_columns.contains(&i) {
                    neutralise_formula(&cell).into_owned()
                } else {
                    cell
                }
            })
            .collect()
    };
    let mut records = records;
    // Writing to a Vec cannot fail, and every record has the header's length.
    let written = out
        .write_record(columns)
        .and_then(|()| records.try_for_each(|r| out.write_record(safe(r))));
    debug_assert!(written.is_ok());
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The obligations as CSV with a header line, text columns neutralised against formula
/// injection as in [`to_csv`].
pub fn obligations_to_csv(rows: &[ObligationRow]) -> String {
    write_csv(
        OBLIGATION_COLUMNS,
        &OBLIGATION_TEXT_COLUMNS,
        rows.iter().map(ObligationRow::fields),
    )
}

/// The obligations as a JSON array of objects with the CSV's column names; figures are
/// JSON numbers with the CSV's decimals, missing instants and ratios `null`.
pub fn obligations_to_json(rows: &[ObligationRow]) -> serde_json::Value {
    let number = |value: i64, digits: u32| -> serde_json::Value {
        decimal(value, digits)
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(serde_json::Value::Null, Into::into)
    };
    let at = |t: Option<DateTime<Utc>>| t.map(|t| instant(Some(t)));
    rows.iter()
        .map(|r| {
            serde_json::json!({
                "employee_id": r.employee_id,
                "email": r.email,
                "name": r.name,
                "kind": r.kind,
                "title": r.title,
                "due_at": at(r.due_at),
                "met_at": at(r.met_at),
                "outcome": r.outcome,
                "weight": r.weight,
                "credit": r.credit,
                "points": number(r.points_x100, 2),
                "ratio": r.ratio.map(|x| number(crate::kpi::round_half_away(x, 10_000.0), 4)),
                "points_lost": number(r.lost_x100(), 2),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        kpi_x100: i64,
        eligible: bool,
        factor: i64,
        reasons: &[&str],
        adjustment: i64,
    ) -> BonusRow {
        BonusRow {
            employee_id: 7,
            email: "a.b@example.com".into(),
            name: "Anna, \"the\" Admin".into(),
            department: "Accounting".into(),
            period_start: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            period_end: NaiveDate::from_ymd_opt(2026, 11, 15).unwrap(),
            kpi_x100,
            eligible,
            bonus_factor_x10000: factor,
            reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
            adjustment_total_x100: adjustment,
            policy_version: 1,
        }
    }

    #[test]
    #[rustfmt::skip]
    fn decimals() {
        assert_eq!(decimal(10444, 2), "104.44");
        assert_eq!(decimal(8500, 4), "0.8500");
        assert_eq!(decimal(10000, 4), "1.0000");
        assert_eq!(decimal(0, 2), "0.00");
        assert_eq!(decimal(5, 2), "0.05");
        assert_eq!(decimal(-150, 2), "-1.50");
        assert_eq!(decimal(-5, 2), "-0.05");
        assert_eq!(decimal(i64::MIN, 2), "-92233720368547758.08");
    }

    #[test]
    fn csv_has_a_header_and_quotes_only_what_needs_it() {
        let csv = to_csv(&[
            row(10444, false, 0, &["DUTY_LATE", "KPI_BELOW_THRESHOLD"], -150),
            row(8500, true, 8500, &[], 0),
        ]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "employee_id,email,name,department,period_start,period_end,kpi,eligible,bonus_factor,reasons,adjustment_total,policy_version"
        );
        assert_eq!(
            lines[1],
            "7,a.b@example.com,\"Anna, \"\"the\"\" Admin\",Accounting,2026-11-01,2026-11-15,104.44,false,0.0000,DUTY_LATE;KPI_BELOW_THRESHOLD,-1.50,1"
        );
        assert_eq!(
            lines[2],
            "7,a.b@example.com,\"Anna, \"\"the\"\" Admin\",Accounting,2026-11-01,2026-11-15,85.00,true,0.8500,,0.00,1"
        );
        assert_eq!(to_csv(&[]).lines().count(), 1);
    }

    #[test]
    #[rustfmt::skip]
    fn formula_cells_are_neutralised() {
        let cases = [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(1)", "'@SUM(1)"),
            ("\tindent", "'\tindent"),
            ("\rline", "'\rline"),
            ("Anna", "Anna"),
            ("a=b", "a=b"), // only a leading character makes a formula
            (" =x", " =x"),
            ("", ""),
            ("'quoted", "'quoted"),
        ];
        for (cell, safe) in cases {
            assert_eq!(neutralise_formula(cell), safe, "{cell:?}");
        }
    }

    #[test]
    fn csv_neutralises_text_columns_only() {
        let mut evil = row(-150, false, 0, &["DUTY_LATE"], -250);
        evil.name = "=HYPERLINK(\"http://evil\",\"x\")".into();
        evil.email = "@SUM(1)@x.de".into();
        evil.department = "-Sales".into();
        let csv = to_csv(&[evil.clone()]);
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[1], "'@SUM(1)@x.de");
        assert_eq!(&record[2], "'=HYPERLINK(\"http://evil\",\"x\")");
        assert_eq!(&record[3], "'-Sales");
        assert_eq!(&record[6], "-1.50", "a negative KPI stays a number");
        assert_eq!(
            &record[10], "-2.50",
            "a negative adjustment total stays a number"
        );
        // JSON keeps the true values.
        let json = to_json(&[evil]);
        assert_eq!(json[0]["name"], "=HYPERLINK(\"http://evil\",\"x\")");
        assert_eq!(json[0]["email"], "@SUM(1)@x.de");
        assert_eq!(json[0]["adjustment_total"].to_string(), "-2.5");
    }

    #[test]
    fn json_carries_the_same_numbers() {
        let json = to_json(&[
            row(10444, false, 0, &["DUTY_LATE"], -150),
            row(8500, true, 8500, &[], 0),
        ]);
        assert_eq!(json[0]["kpi"].to_string(), "104.44");
        assert_eq!(json[0]["bonus_factor"].to_string(), "0.0");
        assert_eq!(json[0]["reasons"], serde_json::json!(["DUTY_LATE"]));
        assert_eq!(json[0]["adjustment_total"].to_string(), "-1.5");
        assert_eq!(json[1]["bonus_factor"].to_string(), "0.85");
        assert_eq!(json[1]["period_start"], "2026-11-01");
        assert_eq!(json[1].as_object().unwrap().len(), COLUMNS.len());
    }

    #[test]
    fn obligations_csv_neutralises_titles_and_keeps_numbers() {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 20, 18, 0, 0).unwrap();
        let item = ObligationRow {
            employee_id: 7,
            email: "a.b@example.com".into(),
            name: "Anna".into(),
            kind: "additional".into(),
            title: "=HYPERLINK(\"http://evil\",\"x\")".into(),
            due_at: Some(at),
            met_at: None,
            outcome: "missed".into(),
            weight: 1.0,
            credit: 0.0,
            points_x100: 0,
            ratio: None,
            points_lost: 12.345,
        };
        let target = ObligationRow {
            kind: "target".into(),
            title: "-Revenue".into(),
            due_at: None,
            met_at: Some(at),
            outcome: "scored".into(),
            weight: 2.0,
            credit: 1.2,
            points_x100: -5,
            ratio: Some(1.0 / 3.0),
            points_lost: 0.0,
            ..item.clone()
        };
        let csv = obligations_to_csv(&[item.clone(), target]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], OBLIGATION_COLUMNS.join(","));
        assert_eq!(
            lines[1],
            "7,a.b@example.com,Anna,additional,\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",2026-11-20T18:00:00Z,,missed,1,0,0.00,,12.35"
        );
        assert_eq!(
            lines[2],
            "7,a.b@example.com,Anna,target,'-Revenue,,2026-11-20T18:00:00Z,scored,2,1.2,-0.05,0.3333,0.00"
        );
        let json = obligations_to_json(&[item]);
        assert_eq!(json[0]["title"], "=HYPERLINK(\"http://evil\",\"x\")");
        assert_eq!(json[0]["met_at"], serde_json::Value::Null);
        assert_eq!(json[0]["points_lost"].to_string(), "12.35");
        assert_eq!(json[0].as_object().unwrap().len(), OBLIGATION_COLUMNS.len());
    }
}
