//! The start page: what each of the user's roles can do from here, with their
//! figures: an employee's claims by status, a manager's team spend (a chart and the
//! same numbers as a table) and what finance has to pay.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::audit::{self, Action};
use crate::auth::Role;
use crate::expenses::claims;
use crate::expenses::money::{Currency, format_minor};
use crate::expenses::reports::{self, Amounts, SpendReport};
use crate::ids::UserId;
use crate::tenancy::Org;
use crate::web::access::CurrentUser;
use crate::web::charts::{self, Series};
use crate::web::layout::{Chrome, html};
use crate::web::{AppError, session};

/// Months of team spend on a manager's dashboard.
pub const SPEND_MONTHS: u32 = 6;

pub struct Tile {
    pub title: &'static str,
    pub text: &'static str,
    pub href: &'static str,
    pub action: &'static str,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Option<Chrome>,
    name: String,
    roles: String,
    notice: Option<String>,
    mfa_enabled: bool,
    tiles: Vec<Tile>,
    totals: Option<Vec<StatusTotal>>,
    spend: Option<TeamSpend>,
    to_pay: Option<ToPay>,
    privacy: Option<super::privacy_breaches::DpoFigures>,
}

pub struct StatusTotal {
    pub status: String,
    pub count: i64,
    pub total: String,
}

/// The chart (as a `data:` URI) and the same figures as a table, month by category.
pub struct TeamSpend {
    pub chart: String,
    /// The base currency, which every amount of the chart and table is in.
    pub currency: String,
    pub categories: Vec<String>,
    pub months: Vec<SpendMonth>,
    pub empty: bool,
    /// Claims in an earlier base currency are not in the figures.
    pub others_left_out: bool,
}

pub struct SpendMonth {
    pub month: String,
    pub cells: Vec<String>,
    pub total: String,
}

pub struct ToPay {
    pub count: i64,
    pub total: String,
}

fn money(minor: i64, c: Currency) -> String {
    format!("{} {c}", format_minor(minor, c))
}

/// A sum per currency, the base first: "1,234.00 EUR, 56.00 GBP".
fn amounts(a: &Amounts) -> String {
    a.as_slice()
        .iter()
        .map(|&(c, minor)| money(minor, c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lays out rows of (month, category, total) as one series per category over `months`.
fn team_spend(org: &Org, months: Vec<String>, report: SpendReport) -> Result<TeamSpend, AppError> {
    let (rows, currency) = (&report.rows, report.currency);
    let labels = claims::categories(org)?;
    let label_of = |code: &str| {
        labels
            .iter()
            .find(|c| c.code == code)
            .map_or_else(|| code.to_owned(), |c| c.label.clone())
    };
    let mut codes: Vec<&str> = rows.iter().map(|r| r.category.as_str()).collect();
    codes.sort_by_key(|c| label_of(c));
    codes.dedup();
    let series: Vec<Series> = codes
        .iter()
        .map(|code| Series {
            label: label_of(code),
            values: months
                .iter()
                .map(|m| {
                    rows.iter()
                        .filter(|r| r.category == *code && r.month == *m)
                        .map(|r| r.total_minor)
                        .sum()
                })
                .collect(),
        })
        .collect();
    let svg = charts::stacked_bars(
        &format!("Team spend, last {SPEND_MONTHS} months"),
        &months,
        &series,
        currency,
    )
    .map_err(AppError::internal)?;
    let table = months
        .iter()
        .enumerate()
        .map(|(i, m)| SpendMonth {
            month: m.clone(),
            cells: series
                .iter()
                .map(|s| format_minor(s.values[i], currency))
                .collect(),
            total: format_minor(series.iter().map(|s| s.values[i]).sum(), currency),
        })
        .collect();
    Ok(TeamSpend {
        chart: charts::data_uri(&svg),
        currency: currency.code().to_owned(),
        categories: series.into_iter().map(|s| s.label).collect(),
        months: table,
        empty: rows.is_empty(),
        others_left_out: report.others_left_out,
    })
}

type Figures = (Option<Vec<StatusTotal>>, Option<TeamSpend>, Option<ToPay>);

fn figures(
    org: &Org,
    uid: UserId,
    employee: bool,
    manager: bool,
    finance: bool,
) -> Result<Figures, AppError> {
    let totals = if employee {
        Some(
            reports::totals_by_status(org, uid)?
                .into_iter()
                .map(|t| StatusTotal {
                    status: t.status.to_string(),
                    count: t.count,
                    total: amounts(&t.amounts),
                })
                .collect(),
        )
    } else {
        None
    };
    let spend = if manager {
        // Months are UK months, as the report counts them.
        let today = crate::privacy::deadlines::uk_today(time::OffsetDateTime::now_utc());
        let report = reports::team_spend_since(org, uid, today, SPEND_MONTHS)?;
        // A team of one is one person's spending: each view that shows any is audited,
        // as the approvals queue is (no figures in the entry).
        if !report.rows.is_empty() {
            audit::record(
                org,
                Some(uid),
                None,
                Action::ViewedPerson,
                "team spend chart",
            )?;
        }
        Some(team_spend(
            org,
            reports::last_months(today, SPEND_MONTHS),
            report,
        )?)
    } else {
        None
    };
    let to_pay = if finance {
        let p = reports::to_pay_total(org)?;
        Some(ToPay {
            count: p.count,
            total: amounts(&p.amounts),
        })
    } else {
        None
    };
    Ok((totals, spend, to_pay))
}

pub async fn dashboard(
    user: CurrentUser,
    session: Session,
    state: web::Data<crate::web::AppState>,
) -> Result<HttpResponse, AppError> {
    let mut tiles = Vec::new();
    if user.has(Role::Employee) {
        tiles.push(Tile {
            title: "Your claims",
            text: "Start a claim, add its lines and submit it to your manager.",
            href: "/claims",
            action: "My claims",
        });
    }
    if user.has(Role::Manager) || user.has(Role::Finance) {
        tiles.push(Tile {
            title: "Approvals",
            text: "Claims waiting for your decision, with any policy flags.",
            href: "/approvals",
            action: "Open approvals",
        });
    }
    if user.has(Role::Admin) {
        tiles.push(Tile {
            title: "People and roles",
            text: "Invite people, set their roles and managers, and choose who must use two-step sign-in.",
            href: "/admin/users",
            action: "Manage users",
        });
    }
    if user.has(Role::Dpo) || user.has(Role::Admin) {
        tiles.push(Tile {
            title: "Audit log",
            text: "Every sign-in, change and view of personal data, in a tamper-evident chain.",
            href: "/audit",
            action: "Open the audit log",
        });
    }
    if user.has(Role::Dpo) {
        tiles.push(Tile {
            title: "Privacy requests",
            text: "Log and answer people's requests about their data, on time.",
            href: "/privacy/requests",
            action: "Open the request register",
        });
        tiles.push(Tile {
            title: "Breach register",
            text: "Record personal data breaches and tell the authority within 72 hours.",
            href: "/privacy/breaches",
            action: "Open the breach register",
        });
    }
    if user.has(Role::Dpo) || user.has(Role::Admin) {
        tiles.push(Tile {
            title: "Records of processing",
            text: "What this service does with your organisation's data, and how it is protected.",
            href: "/privacy/records",
            action: "Read the records",
        });
    }
    tiles.push(Tile {
        title: "Your privacy",
        text: "Your rights over your personal data, your own requests and a copy of your data.",
        href: "/me/privacy",
        action: "My privacy",
    });
    tiles.push(Tile {
        title: "Your account",
        text: "Change your password, sign out of other devices and manage two-step sign-in.",
        href: "/account",
        action: "Account settings",
    });
    let (org, uid) = (user.org().clone(), user.id());
    let roles = (
        user.has(Role::Employee),
        user.has(Role::Manager),
        user.has(Role::Finance),
    );
    let (totals, spend, to_pay) =
        web::block(move || figures(&org, uid, roles.0, roles.1, roles.2)).await??;
    let privacy = if user.has(Role::Dpo) {
        let org = user.org().clone();
        Some(web::block(move || super::privacy_breaches::dpo_figures(&state, &org)).await??)
    } else {
        None
    };
    let page = HomePage {
        chrome: Some(user.chrome()),
        name: user.chrome().user_name,
        roles: crate::web::layout::role_names(
            &user
                .roles()
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        notice: session::take_notice(&session),
        mfa_enabled: user.user().mfa_enabled,
        tiles,
        totals,
        spend,
        to_pay,
        privacy,
    };
    html(StatusCode::OK, &page)
}
