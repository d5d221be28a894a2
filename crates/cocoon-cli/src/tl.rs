//! `cocoon` subcommand (being implemented).

#[derive(clap::Subcommand)]
pub enum TlCommand {
    /// Placeholder until this command is implemented.
    Todo,
}

pub fn run(_args: TlCommand) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
