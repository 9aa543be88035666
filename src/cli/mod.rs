//! The operator's commands. Each prints what it did; any failure is one plain
//! sentence on stderr and exit status 1 (see `main.rs`), with no data changed.

use std::io::Read;
use std::path::Path;

use crate::auth::users::{self, NewUser, UserError};
use crate::auth::{Roles, password};
use crate::config::{Cli, Command, KeysCommand, OrgCommand, UserCommand};
use crate::ids::Slug;
use crate::server::{self, ServeError};
use crate::tenancy::{Registry, TenancyError, Usage};

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
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    let data_dir = cli.data_dir.as_path();
    match cli.command {
        None => Ok(server::serve(data_dir, &cli.serve)?),
        Some(Command::Serve(args)) => Ok(server::serve(data_dir, &args)?),
        Some(Command::Org(cmd)) => org(data_dir, cmd),
        Some(Command::User(cmd)) => user(data_dir, cmd),
        Some(Command::Keys(KeysCommand::RotateMaster)) => {
            let mut registry = Registry::open(data_dir, false, Usage::Command)?;
            let n = registry.rotate_master()?;
            println!("rotated the master key; re-wrapped {n} organisation key(s)");
            Ok(())
        }
    }
}

fn org(data_dir: &Path, cmd: OrgCommand) -> Result<(), CliError> {
    match cmd {
        OrgCommand::Create { slug, name } => {
            // Validate before touching the disk, so bad input changes nothing.
            let slug = Slug::parse(&slug).map_err(TenancyError::from)?;
            crate::tenancy::registry::check_org_name(&name)?;
            let registry = Registry::open(data_dir, true, Usage::Command)?;
            let record = registry.create_org(&slug, &name)?;
            println!("created organisation {} ({})", record.slug, record.name);
            Ok(())
        }
        OrgCommand::List => {
            let registry = Registry::open(data_dir, false, Usage::Command)?;
            for record in registry.list()? {
                println!("{}\t{}", record.slug, record.name);
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
    println!("created user {id} in {} with roles {roles}", org.slug);
    Ok(())
}
