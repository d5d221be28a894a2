//! The admin ports of a local network: each node's flags (its admin address on loopback and
//! its token file in the run directory, created by the node with mode 0600) and the lines
//! that tell the user how to call them.

use std::path::{Path, PathBuf};

/// A node's admin port.
pub struct AdminPort {
    pub node: String,
    pub port: u16,
    pub token_file: PathBuf,
}

impl AdminPort {
    pub fn new(dir: &Path, node: &str, port: u16) -> Self {
        AdminPort {
            node: node.to_string(),
            port,
            token_file: dir.join(format!("{node}.admin-token")),
        }
    }

    /// `--admin-listen 127.0.0.1:PORT --admin-token-file DIR/NODE.admin-token`.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--admin-listen".into(),
            self.addr(),
            "--admin-token-file".into(),
            self.token_file.to_string_lossy().into_owned(),
        ]
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `curl -X POST -H "Authorization: Bearer $(cat FILE)" 'http://ADDR/PATH'`: the token is
    /// read from its file when the command runs, never printed.
    pub fn curl(&self, path_and_query: &str) -> String {
        format!(
            "curl -X POST -H \"Authorization: Bearer $(cat {})\" 'http://{}{path_and_query}'",
            self.token_file.display(),
            self.addr()
        )
    }
}

/// The lines `cocoon up` prints about the admin ports.
pub fn usage(ports: &[AdminPort]) -> Vec<String> {
    let mut out = vec![
        "Admin endpoints (POST only, loopback only; each token is in a file only you can read):"
            .to_string(),
    ];
    for p in ports {
        out.push(format!(
            "  {:<8} http://{}  token {}",
            p.node,
            p.addr(),
            p.token_file.display()
        ));
    }
    if let Some(worker) = ports.iter().find(|p| p.node.starts_with("worker")) {
        out.push("e.g. reprice a worker:".to_string());
        out.push(format!(
            "  {}",
            worker.curl("/request/change_coefficient?coefficient=1.5")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curl_line_reads_the_token_from_its_file() {
        let port = AdminPort::new(Path::new("/run/x"), "worker1", 4100);
        assert_eq!(
            port.args(),
            [
                "--admin-listen",
                "127.0.0.1:4100",
                "--admin-token-file",
                "/run/x/worker1.admin-token"
            ]
        );
        let curl = port.curl("/request/disable");
        assert!(curl.contains("$(cat /run/x/worker1.admin-token)"), "{curl}");
        assert!(curl.contains("-X POST"));
        assert!(curl.ends_with("'http://127.0.0.1:4100/request/disable'"));
        let lines = usage(&[port]);
        assert!(lines.iter().any(|l| l.contains("change_coefficient")));
    }
}
