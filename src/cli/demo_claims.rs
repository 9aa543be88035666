//! Sample claims for `expenseplus demo`: the employee's claims in every state, spread
//! over the last three months, so each role's pages and the manager's chart have
//! something to show. Everything goes through the claims domain, as a user's would.

use time::{Duration, OffsetDateTime};

use crate::auth::{Role, Roles};
use crate::expenses::claims::{self, AddLine, ClaimError, LineInput};
use crate::expenses::status::Transition;
use crate::ids::UserId;
use crate::tenancy::Org;

/// (days ago, category, merchant, description, amount)
type SampleLine = (i64, &'static str, &'static str, &'static str, &'static str);

/// How far each sample claim goes: the transitions applied after its lines are added.
const SAMPLES: [(&str, &[SampleLine], &[Transition]); 5] = [
    (
        "Client visit to Bristol",
        &[
            (
                80,
                "travel",
                "Great Western Railway",
                "Return ticket",
                "86.40",
            ),
            (
                80,
                "meals",
                "Harbourside Café",
                "Lunch with the client",
                "18.90",
            ),
        ],
        &[
            Transition::Submit,
            Transition::Approve,
            Transition::MarkPaid,
        ],
    ),
    (
        "Training course in Leeds",
        &[
            (
                45,
                "training",
                "Data Skills Ltd",
                "Two-day course",
                "450.00",
            ),
            (44, "accommodation", "Aire Hotel", "One night", "112.00"),
        ],
        &[Transition::Submit, Transition::Approve],
    ),
    (
        "Office chair",
        &[(20, "equipment", "Seat & Co", "Ergonomic chair", "245.00")],
        &[Transition::Submit],
    ),
    (
        "Taxi after the late release",
        &[(10, "travel", "City Cabs", "Taxi home at 23:40", "31.50")],
        &[],
    ),
    (
        "Conference dinner",
        &[(30, "meals", "The Long Table", "Team dinner", "64.00")],
        &[Transition::Submit, Transition::Reject],
    ),
];

/// Who acts on the sample claims.
pub struct Cast {
    pub employee: UserId,
    pub manager: UserId,
    pub finance: UserId,
}

/// Files the sample claims and moves each as far as its story goes. Gives how many.
pub fn seed(org: &Org, cast: &Cast) -> Result<usize, ClaimError> {
    let today = OffsetDateTime::now_utc().date();
    for (n, (title, lines, steps)) in SAMPLES.iter().enumerate() {
        let id = claims::create(org, cast.employee, title, &format!("demo-claim-{n}"))?;
        for (i, (ago, category, merchant, description, amount)) in lines.iter().enumerate() {
            let input = LineInput {
                date: (today - Duration::days(*ago)).to_string(),
                category: (*category).into(),
                merchant: (*merchant).into(),
                description: (*description).into(),
                amount: (*amount).into(),
                currency: "GBP".into(),
                form_key: format!("demo-line-{n}-{i}"),
                ..Default::default()
            };
            if let AddLine::Invalid(errors) = claims::add_line(org, cast.employee, id, &input)? {
                return Err(ClaimError::Invalid(format!(
                    "a sample line was refused: {errors:?}"
                )));
            }
        }
        for step in steps.iter() {
            let (actor, roles, comment) = match step {
                Transition::Submit => (cast.employee, Roles::of(&[Role::Employee]), ""),
                Transition::MarkPaid => (cast.finance, Roles::of(&[Role::Finance]), ""),
                Transition::Reject => (
                    cast.manager,
                    Roles::of(&[Role::Manager, Role::Employee]),
                    "Team dinners come from the team budget, not expenses.",
                ),
                _ => (
                    cast.manager,
                    Roles::of(&[Role::Manager, Role::Employee]),
                    "",
                ),
            };
            claims::transition(org, actor, roles, id, None, *step, comment)?;
        }
    }
    Ok(SAMPLES.len())
}
