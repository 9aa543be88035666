//! Command-line flags and their environment fallbacks: flags > `EXPENSEPLUS_*` > defaults.
//! Parsed once at start-up into plain structs; nothing reads the environment later.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "expenseplus", version, about = "Self-hosted expense claims")]
pub struct Cli {
    /// Where registry, organisations, keys and certificates live.
    #[arg(
        long,
        global = true,
        env = "EXPENSEPLUS_DATA_DIR",
        default_value = "data"
    )]
    pub data_dir: PathBuf,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// Serving is the default when no command is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// Parses the command line. Serve flags written before a command (`expenseplus
    /// --backup-dir X backup run`) are refused: clap takes them for the default `serve`,
    /// the command reads only its own, so they would be ignored without a word.
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = Cli::command();
        let matches = command.try_get_matches_from_mut(args)?;
        if let Some((name, _)) = matches.subcommand() {
            // Global flags (--data-dir) reach every command; the others are serve's.
            let ignored: Vec<String> = command
                .get_arguments()
                .filter(|arg| !arg.is_global_set())
                .filter(|arg| {
                    matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine)
                })
                .map(|arg| match arg.get_long() {
                    Some(long) => format!("--{long}"),
                    None => arg.get_id().to_string(),
                })
                .collect();
            if !ignored.is_empty() {
                return Err(command.error(
                    ErrorKind::ArgumentConflict,
                    format!(
                        "{} came before the command {name}, where it would be ignored; \
                         give it after the command",
                        ignored.join(", ")
                    ),
                ));
            }
        }
        Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web application (the default).
    Serve(ServeArgs),
    /// Manage organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Create the organisation `demo` with one user of each role, and print their passwords.
    Demo,
    /// Apply the retention periods.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Breach notices from the operator (the processor) to an organisation's DPO.
    #[command(subcommand)]
    Breach(BreachCommand),
    /// Back up, list, verify and restore organisations.
    #[command(subcommand)]
    Backup(BackupCommand),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "EXPENSEPLUS_BIND", default_value = "127.0.0.1:8443")]
    pub bind: String,
    /// Where backups are written; keep it on a different disk or host from the data.
    #[arg(long, env = "EXPENSEPLUS_BACKUP_DIR", default_value = "backups")]
    pub backup_dir: PathBuf,
    /// PEM certificate chain; without it a self-signed certificate is made in the data dir.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP, for use behind a TLS-terminating proxy only.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub plain_http: bool,
    /// How many organisations stay open at once.
    #[arg(long, env = "EXPENSEPLUS_MAX_OPEN_ORGS", default_value_t = 64)]
    pub max_open_orgs: usize,
    /// Worker threads (default: one per core).
    #[arg(long, env = "EXPENSEPLUS_WORKERS")]
    pub workers: Option<usize>,
    /// Sign people out after this many minutes without a request.
    #[arg(long, env = "EXPENSEPLUS_SESSION_IDLE_MINUTES", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=24 * 60))]
    pub session_idle_minutes: u64,
    /// Sign people out this many hours after signing in, whatever they do.
    #[arg(long, env = "EXPENSEPLUS_SESSION_HOURS", default_value_t = 12,
          value_parser = clap::value_parser!(u64).range(1..=7 * 24))]
    pub session_hours: u64,
    /// The address of a proxy in front of the server (or the small network its instances
    /// sit in, such as 10.0.3.0/28), whose X-Forwarded-For header names the client, for
    /// sign-in throttling. Name the proxies, not the networks clients come from: a client
    /// inside a trusted network could name any address. Repeat it or separate with
    /// commas. Loopback is trusted under --plain-http (a local proxy), not when the server
    /// serves TLS itself.
    #[arg(long = "trusted-proxy", env = "EXPENSEPLUS_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Daily backup of every organisation at this UTC time (HH:MM).
    #[arg(long, env = "EXPENSEPLUS_BACKUP_AT", default_value = "02:00",
          value_parser = crate::jobs::parse_time_of_day)]
    pub backup_at: time::Time,
    #[command(flatten)]
    pub keep: KeepArgs,
}

/// An address (as a single-address network) or a network in CIDR notation.
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("{text:?} is not an address or a network such as 10.0.0.0/8"))
}

/// How many backups rotation keeps.
#[derive(Debug, Clone, Args)]
pub struct KeepArgs {
    /// Keep the newest backup of each of this many days.
    #[arg(long, env = "EXPENSEPLUS_KEEP_DAILY", default_value_t = 7)]
    pub keep_daily: u32,
    /// Keep the newest backup of each of this many weeks.
    #[arg(long, env = "EXPENSEPLUS_KEEP_WEEKLY", default_value_t = 4)]
    pub keep_weekly: u32,
    /// Keep the newest backup of each of this many months.
    #[arg(long, env = "EXPENSEPLUS_KEEP_MONTHLY", default_value_t = 12)]
    pub keep_monthly: u32,
}

impl KeepArgs {
    pub fn retention(&self) -> crate::backup::Retention {
        crate::backup::Retention {
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
        }
    }
}

/// Where backups live, for the backup commands.
#[derive(Debug, Clone, Args)]
pub struct BackupDirArg {
    /// Where backups are written; keep it on a different disk or host from the data.
    #[arg(long, env = "EXPENSEPLUS_BACKUP_DIR", default_value = "backups")]
    pub backup_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up every organisation (or one) now; prints each file written.
    Run {
        #[arg(long)]
        org: Option<String>,
        /// Afterwards delete old backups as the --keep-* rules say.
        #[arg(long)]
        rotate: bool,
        #[command(flatten)]
        keep: KeepArgs,
        #[command(flatten)]
        dir: BackupDirArg,
    },
    /// List backups, oldest first.
    List {
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        dir: BackupDirArg,
    },
    /// Check a backup's checksums and databases without restoring it.
    Verify {
        #[arg(long)]
        org: String,
        /// The backup id, as `backup list` shows it.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        dir: BackupDirArg,
    },
    /// Replace an organisation's data with a verified backup (keys stay current).
    Restore {
        #[arg(long)]
        org: String,
        /// The backup id, as `backup list` shows it.
        #[arg(long)]
        from: String,
        /// Restore a backup whose manifest has no seal (one made before backups were
        /// sealed). Only if you know nobody has changed it since it was made.
        #[arg(long)]
        accept_unsealed: bool,
        #[command(flatten)]
        dir: BackupDirArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organisation and its database.
    Create {
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// One line per organisation.
    List,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: employee, manager, finance, dpo, admin.
        #[arg(long)]
        role: String,
        /// Email of this user's manager.
        #[arg(long)]
        manager: Option<String>,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-wrap every organisation key under a new master key, and replace the registry
    /// copies beside the backups (they hold the keys under the old one).
    RotateMaster {
        #[command(flatten)]
        dir: BackupDirArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check an organisation's audit log against its hash chain, and against the entry
    /// the newest sealed backup recorded.
    Verify {
        #[arg(long)]
        org: String,
        #[command(flatten)]
        dir: BackupDirArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Shred and delete what is past its retention period, now.
    Run {
        /// Only this organisation (default: every organisation).
        #[arg(long)]
        org: Option<String>,
        /// Apply the periods as of this day (YYYY-MM-DD) instead of today.
        #[arg(long)]
        today: Option<String>,
        /// The backups to rewrite without the keys this run destroys.
        #[command(flatten)]
        dir: BackupDirArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum BreachCommand {
    /// Post a processor's breach notice (GDPR Art. 33(2)) to the organisation's DPO.
    Notify {
        #[arg(long)]
        org: String,
        /// A UTF-8 text file with the notice.
        #[arg(long)]
        text: PathBuf,
    },
}
