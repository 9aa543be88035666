//! The claim state machine. A claim moves draft -> submitted -> approved -> paid, may
//! need a second (finance) approval above the organisation's threshold, and can be
//! rejected or returned to draft with a reason. Anything else is refused.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Draft,
    Submitted,
    /// Approved by the manager; over the threshold, so finance must approve too.
    AwaitingFinance,
    Approved,
    Paid,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    Submit,
    Approve,
    Reject,
    ReturnForChanges,
    MarkPaid,
}

/// Who is acting, as far as the state machine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Owner,
    Approver,
    Finance,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("{} cannot be {verb}", .from.a_claim())]
    NotAllowed { from: Status, verb: &'static str },
    #[error("you cannot approve, reject or pay your own claim")]
    OwnClaim,
    #[error("a reason is required")]
    ReasonRequired,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Draft,
        Status::Submitted,
        Status::AwaitingFinance,
        Status::Approved,
        Status::Paid,
        Status::Rejected,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Submitted => "submitted",
            Status::AwaitingFinance => "awaiting_finance",
            Status::Approved => "approved",
            Status::Paid => "paid",
            Status::Rejected => "rejected",
        }
    }

    pub fn parse(code: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Lines can be added, changed or removed only while the claim is a draft.
    pub fn editable(self) -> bool {
        self == Status::Draft
    }
}

impl Status {
    /// The status in words, as pages show it.
    pub fn label(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Submitted => "submitted",
            Status::AwaitingFinance => "awaiting finance approval",
            Status::Approved => "approved",
            Status::Paid => "paid",
            Status::Rejected => "rejected",
        }
    }
}

impl Status {
    /// "a draft", "an approved claim": the status as the subject of a sentence.
    pub fn a_claim(self) -> &'static str {
        match self {
            Status::Draft => "a draft",
            Status::Submitted => "a submitted claim",
            Status::AwaitingFinance => "a claim awaiting finance approval",
            Status::Approved => "an approved claim",
            Status::Paid => "a paid claim",
            Status::Rejected => "a rejected claim",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl Transition {
    pub const ALL: [Transition; 5] = [
        Transition::Submit,
        Transition::Approve,
        Transition::Reject,
        Transition::ReturnForChanges,
        Transition::MarkPaid,
    ];

    fn verb(self) -> &'static str {
        match self {
            Transition::Submit => "submitted",
            Transition::Approve => "approved",
            Transition::Reject => "rejected",
            Transition::ReturnForChanges => "returned for changes",
            Transition::MarkPaid => "marked paid",
        }
    }

    pub fn needs_reason(self) -> bool {
        matches!(self, Transition::Reject | Transition::ReturnForChanges)
    }
}

/// The status after `t`, or why it is refused. `over_threshold` says whether the
/// claim's total needs the second, finance approval.
pub fn next(
    from: Status,
    t: Transition,
    actor: Actor,
    over_threshold: bool,
    reason: &str,
) -> Result<Status, TransitionError> {
    use Status::*;
    use Transition::*;
    if t.needs_reason() && reason.trim().is_empty() {
        return Err(TransitionError::ReasonRequired);
    }
    if actor == Actor::Owner && matches!(t, Approve | Reject | ReturnForChanges | MarkPaid) {
        return Err(TransitionError::OwnClaim);
    }
    let refused = Err(TransitionError::NotAllowed {
        from,
        verb: t.verb(),
    });
    match (from, t, actor) {
        (Draft, Submit, Actor::Owner) => Ok(Submitted),
        (Submitted, Approve, Actor::Approver) if over_threshold => Ok(AwaitingFinance),
        (Submitted, Approve, Actor::Approver) => Ok(Approved),
        (AwaitingFinance, Approve, Actor::Finance) => Ok(Approved),
        (Submitted, Reject, Actor::Approver) | (AwaitingFinance, Reject, Actor::Finance) => {
            Ok(Rejected)
        }
        (Submitted, ReturnForChanges, Actor::Approver)
        | (AwaitingFinance, ReturnForChanges, Actor::Finance) => Ok(Draft),
        (Approved, MarkPaid, Actor::Finance) => Ok(Paid),
        _ => refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The complete table of allowed moves; every other combination must be refused.
    const ALLOWED: &[(Status, Transition, Actor, bool, Status)] = &[
        (
            Status::Draft,
            Transition::Submit,
            Actor::Owner,
            false,
            Status::Submitted,
        ),
        (
            Status::Draft,
            Transition::Submit,
            Actor::Owner,
            true,
            Status::Submitted,
        ),
        (
            Status::Submitted,
            Transition::Approve,
            Actor::Approver,
            false,
            Status::Approved,
        ),
        (
            Status::Submitted,
            Transition::Approve,
            Actor::Approver,
            true,
            Status::AwaitingFinance,
        ),
        (
            Status::AwaitingFinance,
            Transition::Approve,
            Actor::Finance,
            true,
            Status::Approved,
        ),
        (
            Status::AwaitingFinance,
            Transition::Approve,
            Actor::Finance,
            false,
            Status::Approved,
        ),
        (
            Status::Submitted,
            Transition::Reject,
            Actor::Approver,
            false,
            Status::Rejected,
        ),
        (
            Status::Submitted,
            Transition::Reject,
            Actor::Approver,
            true,
            Status::Rejected,
        ),
        (
            Status::AwaitingFinance,
            Transition::Reject,
            Actor::Finance,
            true,
            Status::Rejected,
        ),
        (
            Status::AwaitingFinance,
            Transition::Reject,
            Actor::Finance,
            false,
            Status::Rejected,
        ),
        (
            Status::Submitted,
            Transition::ReturnForChanges,
            Actor::Approver,
            false,
            Status::Draft,
        ),
        (
            Status::Submitted,
            Transition::ReturnForChanges,
            Actor::Approver,
            true,
            Status::Draft,
        ),
        (
            Status::AwaitingFinance,
            Transition::ReturnForChanges,
            Actor::Finance,
            true,
            Status::Draft,
        ),
        (
            Status::AwaitingFinance,
            Transition::ReturnForChanges,
            Actor::Finance,
            false,
            Status::Draft,
        ),
        (
            Status::Approved,
            Transition::MarkPaid,
            Actor::Finance,
            false,
            Status::Paid,
        ),
        (
            Status::Approved,
            Transition::MarkPaid,
            Actor::Finance,
            true,
            Status::Paid,
        ),
    ];

    #[test]
    fn every_move_not_in_the_table_is_refused() {
        let mut allowed = 0;
        for from in Status::ALL {
            for t in Transition::ALL {
                for actor in [Actor::Owner, Actor::Approver, Actor::Finance] {
                    for over in [false, true] {
                        let got = next(from, t, actor, over, "because");
                        let want = ALLOWED
                            .iter()
                            .find(|(f, tt, a, o, _)| {
                                *f == from && *tt == t && *a == actor && *o == over
                            })
                            .map(|row| row.4);
                        match want {
                            Some(to) => {
                                assert_eq!(got, Ok(to), "{from:?} {t:?} {actor:?} {over}");
                                allowed += 1;
                            }
                            None => {
                                assert!(got.is_err(), "{from:?} {t:?} {actor:?} {over} -> {got:?}")
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(allowed, ALLOWED.len());
    }

    #[test]
    fn owners_never_decide_and_reasons_are_required() {
        assert_eq!(
            next(
                Status::Submitted,
                Transition::Approve,
                Actor::Owner,
                false,
                ""
            ),
            Err(TransitionError::OwnClaim)
        );
        assert_eq!(
            next(
                Status::Submitted,
                Transition::Reject,
                Actor::Approver,
                false,
                "  "
            ),
            Err(TransitionError::ReasonRequired)
        );
        assert!(Status::Draft.editable() && !Status::Submitted.editable());
        for s in Status::ALL {
            assert_eq!(Status::parse(s.code()), Some(s));
        }
    }
}
