//! The five roles and a set of them. A user may hold several; routes admit a set.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Employee,
    Manager,
    Finance,
    Dpo,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Employee,
        Role::Manager,
        Role::Finance,
        Role::Dpo,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Employee => "employee",
            Role::Manager => "manager",
            Role::Finance => "finance",
            Role::Dpo => "dpo",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim())
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of roles, stored as a comma-separated list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Roles(u8);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}; roles are employee, manager, finance, dpo and admin")]
pub struct RoleError(pub String);

impl Roles {
    pub const NONE: Roles = Roles(0);

    pub const fn of(list: &[Role]) -> Roles {
        let mut bits = 0u8;
        let mut i = 0;
        while i < list.len() {
            bits |= 1 << (list[i] as u8);
            i += 1;
        }
        Roles(bits)
    }

    /// Parses "employee,manager". An empty list is allowed here; callers decide.
    pub fn parse_list(list: &str) -> Result<Roles, RoleError> {
        let mut roles = Roles::NONE;
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let role = Role::parse(part).ok_or_else(|| RoleError(part.to_owned()))?;
            roles = roles.with(role);
        }
        Ok(roles)
    }

    pub fn with(self, role: Role) -> Roles {
        Roles(self.0 | role.bit())
    }

    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// True if the two sets share at least one role.
    pub fn intersects(self, other: Roles) -> bool {
        self.0 & other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Role::as_str).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let r = Roles::parse_list("manager, employee").unwrap();
        assert!(r.contains(Role::Manager) && r.contains(Role::Employee));
        assert!(!r.contains(Role::Admin));
        assert_eq!(r.to_string(), "employee,manager");
        assert_eq!(Roles::parse_list("boss"), Err(RoleError("boss".into())));
        assert!(Roles::parse_list("").unwrap().is_empty());
    }
}
