//! The `harbor-server` binary.

use std::path::PathBuf;
use std::process::ExitCode;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use harbor_server::config::LogFormat;
use harbor_server::{Config, Server};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "harbor-server",
    version,
    about = "A container registry (OCI distribution API) in Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry server.
    Serve {
        /// Address to listen on [default: 127.0.0.1:5000].
        #[arg(long)]
        listen: Option<String>,
        /// Data directory for blobs and the metadata database [default: ./harbor-data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// TOML configuration file; HARBOR_* environment variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Copy an image (every platform of an index) between registries:
    /// SRC and DEST are http[s]://host[:port]/repo[:tag|@digest] or docker://host/repo[:tag].
    Copy {
        /// Source image.
        src: String,
        /// Destination image.
        dest: String,
        /// Source credentials, user:password.
        #[arg(long)]
        src_creds: Option<String>,
        /// Destination credentials, user:password.
        #[arg(long)]
        dest_creds: Option<String>,
        /// Accept any TLS certificate from the source.
        #[arg(long)]
        src_insecure: bool,
        /// Accept any TLS certificate from the destination.
        #[arg(long)]
        dest_insecure: bool,
        /// Destination type: docker-registry, or harbor (creates missing projects).
        #[arg(long, default_value = "docker-registry")]
        dest_type: String,
        /// Keep a destination tag that points at other content.
        #[arg(long)]
        no_override: bool,
        /// Print only the summary.
        #[arg(long, short)]
        quiet: bool,
    },
}

/// Reads the system's trusted certificates now, before the runtime starts,
/// so that no async task is the first to read them.
fn load_trusted_roots() {
    harbor_core::tls::trusted_roots();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            listen,
            data_dir,
            config,
        } => {
            let mut cfg = match Config::load(config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("harbor-server: {}", one_line(&e.to_string()));
                    return ExitCode::from(2);
                }
            };
            if let Some(l) = listen {
                cfg.listen = l;
            }
            if let Some(d) = data_dir {
                cfg.data_dir = d;
            }
            init_logging(&cfg.log_level, cfg.log_format);
            load_trusted_roots();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("harbor-server: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(serve(cfg))
        }
        Command::Copy {
            src,
            dest,
            src_creds,
            dest_creds,
            src_insecure,
            dest_insecure,
            dest_type,
            no_override,
            quiet,
        } => {
            load_trusted_roots();
            let args = harbor_server::copy_cmd::CopyArgs {
                src,
                dest,
                src_creds,
                dest_creds,
                src_insecure,
                dest_insecure,
                dest_type: harbor_core::RegistryType::parse(&dest_type),
                no_override,
                quiet,
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("harbor-server: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(harbor_server::copy_cmd::run(args)) {
                Ok(summary) => {
                    println!("{summary}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("harbor-server copy: {}", harbor_core::error::chain(&e));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logging(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Colour codes are for a person at a terminal; in a file or a
        // collector they are noise.
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
}

async fn serve(cfg: Config) -> ExitCode {
    let data_dir = cfg.data_dir.clone();
    let server = match Server::bind(cfg).await {
        Ok(s) => s,
        Err(e) => {
            // One line, whatever a backend put in its message (an object
            // store's XML error body spans several).
            let e = one_line(&harbor_core::error::chain(&e));
            tracing::error!("{e}");
            eprintln!("harbor-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(password) = server.generated_admin_password() {
        // Shown once, on the terminal only: never logged.
        println!("harbor-server: created the administrator 'admin' with password {password}");
        println!("harbor-server: this password is not shown again; set HARBOR_ADMIN_PASSWORD to choose one");
    }
    let scheme = if server.is_tls() { "https" } else { "http" };
    let addr = server.local_addr();
    tracing::info!(%addr, data_dir = %data_dir.display(), "harbor-server started");
    // One line on stdout that scripts and tests can wait for.
    let shutdown = shutdown_signal();
    println!("harbor-server listening on {scheme}://{addr}");
    server.run_until(shutdown).await;
    tracing::info!("harbor-server stopped");
    ExitCode::SUCCESS
}

/// SIGINT or SIGTERM. The handlers are installed here, before the server
/// says it listens: a signal sent as soon as that line appears must stop the
/// server gracefully, not kill it with the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = int.recv() => {},
                        _ = term.recv() => {},
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `text` with its line breaks and runs of blanks folded into single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
