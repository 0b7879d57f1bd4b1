//! The payroll export of a closed period: one row per employee with a result.
//!
//! Figures are stored as fixed-point integers and printed as decimals without going
//! through floating point: KPI and adjustments with two decimals (`104.44`), the bonus
//! factor with four (`0.8500`). CSV and JSON carry the same rows and the same numbers.
//! In CSV the reason codes are joined with `;` so the field never needs quoting.

use std::collections::HashMap;

use chrono::NaiveDate;
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

/// The rows of the period starting on `period_starts_on`, by employee id.
pub async fn bonus_rows(
    db: &impl ConnectionTrait,
    who: &Principal,
    period_starts_on: NaiveDate,
) -> Result<Vec<BonusRow>, ExportError> {
    crate::access::require_payroll(who)?;
    let period = period::Entity::find()
        .filter(period::Column::StartsOn.eq(period_starts_on))
        .one(db)
        .await?
        .ok_or(ExportError::NoSuchPeriod(period_starts_on))?;
    if period.status != PeriodStatus::Closed {
        return Err(ExportError::NotClosed(period_starts_on));
    }
    let results = kpi_result::Entity::find()
        .filter(kpi_result::Column::PeriodId.eq(period.id))
        .order_by_asc(kpi_result::Column::EmployeeId)
        .all(db)
        .await?;
    let adjustments = crate::results::adjustment_totals(db, period.id).await?;
    // Everyone, rather than an `IN` list of the period's employees, which would outgrow the
    // databases' limits on bound parameters in a large company and saves nothing.
    let employees: HashMap<i64, employee::Model> = employee::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
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
    let mut out = csv::Writer::from_writer(Vec::new());
    let record = |r: &BonusRow| -> Vec<String> {
        r.fields()
            .into_iter()
            .enumerate()
            .map(|(i, cell)| {
                if TEXT_COLUMNS.contains(&i) {
                    neutralise_formula(&cell).into_owned()
                } else {
                    cell
                }
            })
            .collect()
    };
    // Writing to a Vec cannot fail, and every record has the header's length.
    let written = out
        .write_record(COLUMNS)
        .and_then(|()| rows.iter().try_for_each(|r| out.write_record(record(r))));
    debug_assert!(written.is_ok());
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
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
}
