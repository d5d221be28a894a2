//! `cocoon` subcommand (being implemented).

#[derive(clap::Subcommand)]
pub enum BackendCommand {
    /// Placeholder until this command is implemented.
    Todo,
}

pub fn run(_args: BackendCommand) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
