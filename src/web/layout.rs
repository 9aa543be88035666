//! The parts of the page frame that depend on who is signed in.

pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
}

/// Header content for a signed-in page: organisation, person, navigation, and the
/// CSRF token the sign-out form needs.
pub struct Chrome {
    pub org_name: String,
    pub user_name: String,
    pub csrf_token: String,
    pub links: Vec<NavLink>,
}
