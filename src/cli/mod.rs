//! The operator's commands. Each prints what it did; any failure is one plain
//! sentence on stderr and exit status 1 (see `main.rs`), with no data changed.

mod demo_claims;

use std::io::Read;
use std::path::Path;

use crate::audit::{self, Action, VerifyError};
use crate::auth::users::{self, NewUser, UserError};
use crate::auth::{Role, Roles, password};
use crate::config::{
    AuditCommand, BreachCommand, Cli, Command, KeysCommand, OrgCommand, RetentionCommand,
    UserCommand,
};
use crate::ids::{Slug, UserId};
use crate::server::{self, ServeError};
use crate::tenancy::{Org, Registry, TenancyError, Usage};

/// `println!` that a closed pipe does not crash: see [`say`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::say(format_args!($($arg)*))
    };
}

mod backup_cmd;

/// Writes one line of a command's output. A reader that stopped reading (`| head -1`) is
/// no failure of the command: the rest of the output is dropped and the work goes on.
fn say(line: std::fmt::Arguments<'_>) -> Result<(), CliError> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{line}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::Output(e.to_string()))
        }
        _ => Ok(()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Tenancy(#[from] TenancyError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    User(#[from] UserError),
    #[error("there is no user with the email given for --manager")]
    UnknownManager,
    #[error("the password could not be read from standard input: {0}")]
    Stdin(String),
    #[error("the audit log of {slug} is broken: {source}")]
    AuditBroken { slug: String, source: VerifyError },
    #[error(
        "the audit log of {slug} was rewritten: entry {entry} is not what backup {backup} recorded when it was taken, so entries up to it were changed or removed since, and the chain computed again"
    )]
    AuditRewritten {
        slug: String,
        backup: String,
        entry: i64,
    },
    #[error("the sample claims could not be made: {0}")]
    DemoClaims(#[from] crate::expenses::claims::ClaimError),
    #[error("retention did not finish for {0}: see the messages above")]
    SomeRetentionFailed(String),
    #[error("--today must be a date written as YYYY-MM-DD")]
    BadDate,
    #[error("the notice file {path} could not be read as UTF-8 text")]
    NoticeFile { path: String },
    #[error("{0}")]
    Privacy(String),
    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),
    #[error("the backup of {0} failed; the others were written")]
    SomeBackupsFailed(String),
    #[error(
        "an ExpensePlus server is running on this data dir: stop it before rotating the master key, as it keeps the old key in memory"
    )]
    RotateWhileServing,
    #[error(
        "the master key was rotated, but the registry copies in {0} could not be replaced ({1}): they still hold the organisation keys under the old master key; run `expenseplus backup run` and delete the older copies in {0}/_registry by hand"
    )]
    RegistryCopiesKept(String, String),
    #[error("the command's output could not be written: {0}")]
    Output(String),
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    let data_dir = cli.data_dir.as_path();
    match cli.command {
        None => Ok(server::serve(data_dir, &cli.serve)?),
        Some(Command::Serve(args)) => Ok(server::serve(data_dir, &args)?),
        Some(Command::Org(cmd)) => org(data_dir, cmd),
        Some(Command::User(cmd)) => user(data_dir, cmd),
        Some(Command::Keys(KeysCommand::RotateMaster { dir })) => {
            rotate_master(data_dir, &dir.backup_dir)
        }
        Some(Command::Audit(AuditCommand::Verify { org, dir })) => {
            audit_verify(data_dir, &org, &dir.backup_dir)
        }
        Some(Command::Demo) => demo(data_dir),
        Some(Command::Retention(RetentionCommand::Run { org, today, dir })) => {
            retention_run(data_dir, &dir.backup_dir, org.as_deref(), today.as_deref())
        }
        Some(Command::Breach(BreachCommand::Notify { org, text })) => {
            breach_notify(data_dir, &org, &text)
        }
        Some(Command::Backup(cmd)) => backup_cmd::run(data_dir, cmd),
    }
}

fn rotate_master(data_dir: &Path, backup_dir: &Path) -> Result<(), CliError> {
    let mut registry = Registry::open(data_dir, false, Usage::Command)?;
    let n = registry.rotate_master().map_err(|e| match e {
        TenancyError::Serving => CliError::RotateWhileServing,
        e => e.into(),
    })?;
    say!("rotated the master key; re-wrapped {n} organisation key(s)")?;
    // The copies beside the backups hold the organisation keys under the old master
    // key, which a rotation retires: one copy under the new key replaces them all.
    match crate::backup::registry_copy::replace_all(&registry, backup_dir) {
        Ok(None) => say!(
            "found no registry copies in {} (none to replace; give --backup-dir if the backups are elsewhere)",
            backup_dir.display()
        ),
        Ok(Some(old)) => say!(
            "replaced the {old} registry cop(ies) in {} with one under the new key",
            backup_dir.display()
        ),
        Err(e) => Err(CliError::RegistryCopiesKept(
            backup_dir.display().to_string(),
            e.to_string(),
        )),
    }
}

/// Applies retention to one organisation or all, as of `today` (default: today, UTC).
fn retention_run(
    data_dir: &Path,
    backup_dir: &Path,
    slug: Option<&str>,
    today: Option<&str>,
) -> Result<(), CliError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let today = match today {
        Some(raw) => time::Date::parse(raw.trim(), &format).map_err(|_| CliError::BadDate)?,
        // The UK date, as the server's daily run takes it: between 23:00 and midnight
        // UTC in summer the UTC date is still yesterday's.
        None => crate::privacy::deadlines::uk_today(time::OffsetDateTime::now_utc()),
    };
    let registry = Registry::open(data_dir, false, Usage::Command)?;
    let _not_serving = crate::tenancy::serving::ensure_not_serving(data_dir)?;
    let slugs: Vec<String> = match slug {
        Some(s) => vec![s.to_owned()],
        None => registry.list()?.into_iter().map(|r| r.slug).collect(),
    };
    let mut failed = Vec::new();
    for slug in slugs {
        let run = open_org(&registry, &slug).and_then(|org| {
            let report = crate::privacy::retention::run(&org, today)
                .map_err(|e| CliError::Privacy(e.to_string()))?;
            Ok((org, report))
        });
        let (org, r) = match run {
            Ok(done) => done,
            Err(e) => {
                eprintln!("Retention of {slug} failed: {e}.");
                failed.push(slug);
                continue;
            }
        };
        // The backups forget the destroyed keys (a backup dir not made yet holds none).
        let backups = backup_dir.exists().then_some(backup_dir);
        for key in &r.destroyed_keys {
            let note = crate::backup::forget_now(backups, &org, *key);
            if !note.is_empty() {
                say!("{}: {}", org.slug, note.trim_start())?;
            }
        }
        say!(
            "{}: as of {today}: {} scheduled erasure(s), {} deactivated profile(s) erased, \
             {} claim(s) deleted, {} claim(s) past retention still in progress, \
             {} audit entr(ies) past retention kept",
            org.slug,
            r.erased_scheduled.len(),
            r.erased_profiles.len(),
            r.claims_deleted.len(),
            r.claims_open_past_period,
            r.audit_past_period
        )?;
        if !r.erasures_failed.is_empty() {
            eprintln!(
                "In {slug}, {} erasure(s) failed (the retention log names the people); \
                 the next run tries again.",
                r.erasures_failed.len()
            );
            failed.push(slug);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::SomeRetentionFailed(failed.join(", ")))
    }
}

/// Opens an existing organisation for a command.
fn open_org(registry: &Registry, slug: &str) -> Result<Org, CliError> {
    let slug = Slug::parse(slug).map_err(TenancyError::from)?;
    let record = registry
        .find_by_slug(slug.as_str())?
        .ok_or_else(|| TenancyError::NotFound(slug.to_string()))?;
    Ok(registry.open_org(&record)?)
}

fn audit_verify(data_dir: &Path, slug: &str, backup_dir: &Path) -> Result<(), CliError> {
    use crate::backup::anchor::{self, Anchor};
    let registry = Registry::open(data_dir, false, Usage::Command)?;
    let org = open_org(&registry, slug)?;
    let n = match audit::verify(&org) {
        Ok(n) => n,
        Err(VerifyError::Db(e)) => return Err(TenancyError::Db(e).into()),
        Err(source) => {
            return Err(CliError::AuditBroken {
                slug: org.slug.to_string(),
                source,
            });
        }
    };
    say!("audit log of {}: {n} entries, chain intact", org.slug)?;
    match anchor::check(backup_dir, &org)? {
        Anchor::Missing => say!(
            "no sealed backup in {} records an entry to compare with",
            backup_dir.display()
        ),
        Anchor::BadSeal { backup } => {
            Err(crate::backup::BackupError::BadSeal { id: backup }.into())
        }
        Anchor::Holds { backup, entry } => {
            say!("entry {entry} is as backup {backup} recorded it")
        }
        Anchor::BeforeRestore { backup } => say!(
            "not compared with backup {backup}: the organisation was restored after it was taken"
        ),
        Anchor::Differs { backup, entry } => Err(CliError::AuditRewritten {
            slug: org.slug.to_string(),
            backup,
            entry,
        }),
    }
}

/// Posts a processor's breach notice. Everything is checked before anything is written.
fn breach_notify(data_dir: &Path, slug: &str, file: &Path) -> Result<(), CliError> {
    use crate::privacy::breaches;
    let slug = Slug::parse(slug).map_err(TenancyError::from)?;
    let text = std::fs::read_to_string(file).map_err(|_| CliError::NoticeFile {
        path: file.display().to_string(),
    })?;
    let text = breaches::check_notice(&text).map_err(|e| CliError::Privacy(e.to_string()))?;
    let registry = Registry::open(data_dir, false, Usage::Command)?;
    let org = open_org(&registry, slug.as_str())?;
    let id = breaches::post_notice(&org, &text).map_err(|e| CliError::Privacy(e.to_string()))?;
    say!(
        "posted breach notice {id} to the data protection officer of {}",
        org.slug
    )?;
    Ok(())
}

const DEMO_SLUG: &str = "demo";
const DEMO_NAME: &str = "Demo Ltd";

/// A passphrase that passes the policy for this person (a suggestion almost always does).
fn demo_password(email: &str) -> Result<String, CliError> {
    let local = email.split('@').next().unwrap_or("");
    let context = [email, local, DEMO_SLUG, DEMO_NAME];
    let mut last = password::PasswordError::TooWeak;
    for _ in 0..20 {
        let candidate = password::suggest_passphrase();
        match password::check_policy(&candidate, &context) {
            Ok(()) => return Ok(candidate),
            Err(e) => last = e,
        }
    }
    Err(UserError::from(last).into())
}

/// The organisation `demo` with one user of each role; prints how to sign in as each.
fn demo(data_dir: &Path) -> Result<(), CliError> {
    let slug = Slug::parse(DEMO_SLUG).map_err(TenancyError::from)?;
    let registry = Registry::open(data_dir, true, Usage::Command)?;
    if registry.find_by_slug(DEMO_SLUG)?.is_some() {
        return Err(TenancyError::Duplicate(DEMO_SLUG.to_owned()).into());
    }
    // (role shown, email, name, roles); the manager comes first so the employee can
    // report to them.
    let people: [(&str, &str, &str, &[Role]); 5] = [
        (
            "manager",
            "manager@demo.example",
            "Morgan Manager",
            &[Role::Manager, Role::Employee],
        ),
        (
            "employee",
            "employee@demo.example",
            "Erin Employee",
            &[Role::Employee],
        ),
        (
            "finance",
            "finance@demo.example",
            "Fran Finance",
            &[Role::Finance],
        ),
        ("dpo", "dpo@demo.example", "Dana Protection", &[Role::Dpo]),
        ("admin", "admin@demo.example", "Alex Admin", &[Role::Admin]),
    ];
    let mut prepared = Vec::with_capacity(people.len());
    for (shown, email, name, roles) in people {
        let secret = demo_password(email)?;
        let hash = password::hash(&secret).map_err(UserError::from)?;
        prepared.push((shown, email, name, Roles::of(roles), secret, hash));
    }
    let record = registry.create_org(&slug, DEMO_NAME)?;
    let org = registry.open_org(&record)?;
    let mut manager: Option<UserId> = None;
    let mut lines = Vec::with_capacity(prepared.len());
    let mut ids: Vec<(&str, UserId)> = Vec::with_capacity(prepared.len());
    for (shown, email, name, roles, secret, hash) in prepared {
        let id = users::create(
            &org,
            NewUser {
                email,
                name,
                roles,
                manager: if shown == "employee" { manager } else { None },
                password_hash: Some(hash),
            },
        )?;
        if shown == "manager" {
            manager = Some(id);
        }
        ids.push((shown, id));
        audit::record(
            &org,
            None,
            Some(id),
            Action::UserCreated,
            &roles.to_string(),
        )
        .map_err(TenancyError::from)?;
        lines.push((shown, email, secret));
    }
    let mut filed = 0;
    let id_of = |role: &str| ids.iter().find(|(r, _)| *r == role).map(|(_, id)| *id);
    if let (Some(employee), Some(manager), Some(finance)) =
        (id_of("employee"), id_of("manager"), id_of("finance"))
    {
        let cast = demo_claims::Cast {
            employee,
            manager,
            finance,
        };
        filed = demo_claims::seed(&org, &cast)?;
    }
    say!(
        "created organisation {} ({}); sign in with the organisation name {}",
        org.slug,
        org.name,
        org.slug
    )?;
    say!("filed {filed} sample claims for the employee, in every state")?;
    // Each role on its own line, in the usual order.
    for role in Role::ALL {
        if let Some((shown, email, secret)) = lines.iter().find(|l| l.0 == role.as_str()) {
            say!("{shown}\t{email}\t{secret}")?;
        }
    }
    Ok(())
}

fn org(data_dir: &Path, cmd: OrgCommand) -> Result<(), CliError> {
    match cmd {
        OrgCommand::Create { slug, name } => {
            // Validate before touching the disk, so bad input changes nothing.
            let slug = Slug::parse(&slug).map_err(TenancyError::from)?;
            crate::tenancy::registry::check_org_name(&name)?;
            let registry = Registry::open(data_dir, true, Usage::Command)?;
            let record = registry.create_org(&slug, &name)?;
            say!("created organisation {} ({})", record.slug, record.name)?;
            Ok(())
        }
        OrgCommand::List => {
            let registry = Registry::open(data_dir, false, Usage::Command)?;
            for record in registry.list()? {
                say!("{}\t{}", record.slug, record.name)?;
            }
            Ok(())
        }
    }
}

fn read_password() -> Result<String, CliError> {
    let mut input = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut input)
        .map_err(|e| CliError::Stdin(e.to_string()))?;
    Ok(input.trim_end_matches(['\r', '\n']).to_owned())
}

fn user(data_dir: &Path, cmd: UserCommand) -> Result<(), CliError> {
    let UserCommand::Create {
        org,
        email,
        name,
        role,
        manager,
        password_stdin: _,
    } = cmd;
    let roles = Roles::parse_list(&role).map_err(UserError::from)?;
    if roles.is_empty() {
        return Err(UserError::NoRoles.into());
    }
    let normalised = users::normalise_email(&email)?;
    users::check_name(&name)?;
    let slug = Slug::parse(&org).map_err(TenancyError::from)?;
    let registry = Registry::open(data_dir, false, Usage::Command)?;
    let record = registry
        .find_by_slug(slug.as_str())?
        .ok_or_else(|| TenancyError::NotFound(slug.to_string()))?;
    let org = registry.open_org(&record)?;
    let manager = match manager {
        Some(m) => Some(
            users::find_by_email(&org, &m)?
                .ok_or(CliError::UnknownManager)?
                .user_id(),
        ),
        None => None,
    };
    let secret = read_password()?;
    password::check_policy(
        &secret,
        &[
            &normalised,
            normalised.split('@').next().unwrap_or(""),
            slug.as_str(),
            &org.name,
        ],
    )
    .map_err(UserError::from)?;
    let hash = password::hash(&secret).map_err(UserError::from)?;
    let id = users::create(
        &org,
        NewUser {
            email: &normalised,
            name: &name,
            roles,
            manager,
            password_hash: Some(hash),
        },
    )?;
    say!("created user {id} in {} with roles {roles}", org.slug)?;
    Ok(())
}
