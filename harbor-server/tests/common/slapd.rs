//! Debian's slapd as the company directory: one per test binary (shared by
//! its tests, like the PostgreSQL and S3 servers), on a loopback port, with
//! a throwaway `mdb` database in a temporary directory and the `memberof`
//! overlay, seeded with `ldapadd` (ldap-utils): users, groups
//! (groupOfNames), a user in several groups, an administrators' group, a
//! disabled account (`description: disabled`, which the filter of
//! [`Slapd::settings`] excludes) and a user whose name holds `*`, `(`, `)`,
//! `\`, `,` and `+`. The system's own slapd (started by the package) is
//! neither used nor touched: this one has its own configuration file,
//! database and port.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Where the package puts the daemon.
pub const SLAPD: &str = "/usr/sbin/slapd";
/// The base of the tree.
pub const SUFFIX: &str = "dc=example,dc=com";
/// The account searches bind as, and its password.
pub const READER_DN: &str = "cn=reader,dc=example,dc=com";
pub const READER_PASSWORD: &str = "reader-secret";
/// The administrators' group.
pub const ADMINS_DN: &str = "cn=harbor-admins,ou=groups,dc=example,dc=com";
/// The user whose name holds LDAP's special characters.
pub const ODD_NAME: &str = "o*d(d)\\n,a+me";
/// The filter that keeps disabled accounts out.
pub const FILTER: &str = "(&(objectClass=inetOrgPerson)(!(description=disabled)))";

/// Every seeded user's password is `<uid>-pw`.
pub fn password(uid: &str) -> String {
    format!("{uid}-pw")
}

/// A running slapd; dropping it kills it (by its PID). The shared one
/// also dies with the test process (a watchdog beside it).
pub struct Slapd {
    child: Child,
    /// `ldap://127.0.0.1:PORT` (StartTLS offered).
    pub url: String,
    /// `ldaps://127.0.0.1:PORT`, with a self-signed certificate.
    pub ldaps_url: String,
    /// The port.
    pub port: u16,
    _dir: tempfile::TempDir,
}

static SHARED: OnceLock<Slapd> = OnceLock::new();

/// The slapd of this test binary, started on first use.
pub fn shared() -> &'static Slapd {
    SHARED.get_or_init(Slapd::start)
}

fn people(uid: &str) -> String {
    format!("{},ou=people,{SUFFIX}", harbor_auth::ldap::rdn("uid", uid))
}

/// The DN of seeded user `uid`.
pub fn user_dn(uid: &str) -> String {
    people(uid)
}

fn user(uid: &str, cn: &str, mail: Option<&str>, extra: &str) -> String {
    let mail = mail.map(|m| format!("mail: {m}\n")).unwrap_or_default();
    format!(
        "dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\nsn: {cn}\n{mail}userPassword: {pw}\n{extra}\n",
        dn = people(uid),
        pw = password(uid),
    )
}

fn group(cn: &str, members: &[&str]) -> String {
    let members: String = members
        .iter()
        .map(|m| format!("member: {}\n", people(m)))
        .collect();
    format!("dn: cn={cn},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {cn}\n{members}\n")
}

/// The seeded tree, in LDIF.
fn seed() -> String {
    let mut ldif = format!(
        "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
         dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: {READER_PASSWORD}\n\n\
         dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n\n"
    );
    ldif += &user("alice", "Alice Liddell", Some("alice@example.com"), "");
    ldif += &user("bob", "Bob Builder", Some("bob@example.com"), "");
    ldif += &user("carol", "Carol Disabled", None, "description: disabled\n");
    ldif += &user("dave", "Dave Admin", Some("dave@example.com"), "");
    ldif += &user("erin", "Erin Early", None, "displayName: Erin E.\n");
    ldif += &user("frank", "Frank Rate", None, "");
    ldif += &user("grace", "Grace Group", None, "");
    ldif += &user(ODD_NAME, "Odd Name", None, "");
    // Groups after their members, so that memberof fills memberOf.
    ldif += &group("developers", &["alice", "grace"]);
    ldif += &group("ops", &["alice"]);
    ldif += &group("harbor-admins", &["dave"]);
    ldif += &group("readers", &["bob", "erin"]);
    ldif
}

impl Slapd {
    /// Starts one on a free port, seeds it and waits until it answers.
    pub fn start() -> Slapd {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap_or_else(|e| panic!("mkdir {}: {e}", db.display()));
        let conf = dir.path().join("slapd.conf");
        let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap_or_else(|e| panic!("generate a certificate: {e}"));
        let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        for (path, text) in [
            (&cert_file, cert.pem()),
            (&key_file, signing_key.serialize_pem()),
        ] {
            std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        }
        let schema = Path::new("/etc/ldap/schema");
        let includes: String = ["core", "cosine", "inetorgperson", "nis"]
            .iter()
            .map(|s| format!("include {}\n", schema.join(format!("{s}.schema")).display()))
            .collect();
        std::fs::write(
            &conf,
            format!(
                "{includes}\
                 modulepath /usr/lib/ldap\n\
                 moduleload back_mdb.so\n\
                 moduleload memberof.so\n\
                 pidfile {dir}/slapd.pid\n\
                 argsfile {dir}/slapd.args\n\
                 TLSCertificateFile {cert}\n\
                 TLSCertificateKeyFile {key}\n\
                 database mdb\n\
                 maxsize 10485760\n\
                 suffix \"{SUFFIX}\"\n\
                 rootdn \"cn=admin,{SUFFIX}\"\n\
                 rootpw admin-secret\n\
                 directory {db}\n\
                 overlay memberof\n\
                 access to attrs=userPassword by self write by anonymous auth by * none\n\
                 access to * by * read\n",
                dir = dir.path().display(),
                db = db.display(),
                cert = cert_file.display(),
                key = key_file.display(),
            ),
        )
        .unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
        let port = super::distribution::free_port();
        let url = format!("ldap://127.0.0.1:{port}");
        let tls_port = super::distribution::free_port();
        let ldaps_url = format!("ldaps://127.0.0.1:{tls_port}");
        // The shell becomes slapd (exec, in the foreground with -d 0), a
        // watchdog beside it ends it when this test process is gone.
        let script = format!(
            "(while kill -0 {parent} 2>/dev/null && kill -0 $$ 2>/dev/null; do sleep 1; done; \
              kill $$ 2>/dev/null) </dev/null >/dev/null 2>&1 & \
             exec {SLAPD} -d 0 -f {conf} -h '{url}/ {ldaps_url}/'",
            parent = std::process::id(),
            conf = conf.display(),
        );
        if !Path::new(SLAPD).exists() {
            panic!("{SLAPD} is missing: bash scripts/test installs slapd and ldap-utils");
        }
        let child = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {SLAPD}: {e}"));
        let slapd = Slapd {
            child,
            url: url.clone(),
            ldaps_url,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "slapd never listened on {url}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let ldif = slapd._dir.path().join("seed.ldif");
        std::fs::write(&ldif, seed()).unwrap_or_else(|e| panic!("write seed: {e}"));
        slapd.ldapadd(&ldif);
        slapd
    }

    /// Applies `ldif` (changetype records) with ldapmodify, as the
    /// directory's administrator.
    pub fn modify(&self, ldif: &str) {
        let path = self
            ._dir
            .path()
            .join(format!("change-{}.ldif", std::process::id()));
        std::fs::write(&path, ldif).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self.run("ldapmodify", &path);
    }

    fn ldapadd(&self, ldif: &PathBuf) {
        self.run("ldapadd", ldif);
    }

    fn run(&self, tool: &str, ldif: &PathBuf) {
        let out = Command::new(tool)
            .args(["-x", "-H", &self.url, "-D", &format!("cn=admin,{SUFFIX}")])
            .args(["-w", "admin-secret", "-f"])
            .arg(ldif)
            .output()
            .unwrap_or_else(|e| panic!("{tool} (bash scripts/test installs ldap-utils): {e}"));
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The `/configurations` body that points a server at this directory.
    pub fn settings(&self) -> Value {
        json!({
            "ldap_url": self.url,
            "ldap_search_dn": READER_DN,
            "ldap_search_password": READER_PASSWORD,
            "ldap_base_dn": format!("ou=people,{SUFFIX}"),
            "ldap_filter": FILTER,
            "ldap_uid": "uid",
            "ldap_scope": 2,
            "ldap_timeout": 5,
            "ldap_group_base_dn": format!("ou=groups,{SUFFIX}"),
            "ldap_group_search_filter": "objectClass=groupOfNames",
            "ldap_group_attribute_name": "cn",
            "ldap_group_search_scope": 2,
            "ldap_group_admin_dn": ADMINS_DN,
            "ldap_group_membership_attribute": "memberof",
        })
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        // By its PID (the shell exec'd slapd).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
