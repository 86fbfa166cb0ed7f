//! The cucumber World, steps and hooks of the demo suite.
//!
//! One [`App`] per process, shared by every scenario of that process, like
//! the in-process test server of the suite this demo is modelled on: its
//! database may be shared with other processes and its JWT secret is shared
//! with every scenario of the process.

use std::sync::OnceLock;

use bdd_demo::app::{App, User};
use bdd_demo::config::Config;
use bdd_demo::jwt;
use cucumber::{given, then, when, World};

static APP: OnceLock<App> = OnceLock::new();
static CONFIG: OnceLock<Config> = OnceLock::new();

pub fn install(app: App, config: Config) {
    let _ = APP.set(app);
    let _ = CONFIG.set(config);
}

pub fn app() -> &'static App {
    APP.get()
        .expect("the app is installed before the suite runs")
}

pub fn config() -> &'static Config {
    CONFIG
        .get()
        .expect("the config is installed before the suite runs")
}

/// What one scenario remembers between its steps. Nothing here is about
/// tracing: `trace_state` attributes what the steps do to their scenario,
/// even with many scenarios running at once.
#[derive(Debug, World)]
#[world(init = Self::new)]
pub struct DemoWorld {
    token: Option<String>,
    login_error: Option<String>,
    greeting: Option<Result<String, String>>,
    page: Option<Result<String, String>>,
    listing: Option<Result<Vec<User>, String>>,
    /// This scenario as the `written_by` of the rows it writes
    /// ([`bdd_demo::truth::writer_tag`]; set by the before hook).
    pub by: String,
}

impl DemoWorld {
    fn new() -> DemoWorld {
        DemoWorld {
            token: None,
            login_error: None,
            greeting: None,
            page: None,
            listing: None,
            by: String::new(),
        }
    }
}

fn err(e: bdd_demo::Error) -> String {
    e.to_string()
}

#[given("the service is up")]
async fn service_is_up(_w: &mut DemoWorld) {
    // A health check against the service's front door before each scenario.
    app().network.remote_call("GET", "/health", 80, 160).await;
}

#[given(expr = "a registered user {string} with password {string}")]
async fn registered_user(w: &mut DemoWorld, name: String, password: String) {
    app()
        .register(&name, &password, "user", &w.by)
        .await
        .expect("registration succeeds");
}

#[given(expr = "a registered admin {string} with password {string}")]
async fn registered_admin(w: &mut DemoWorld, name: String, password: String) {
    app()
        .register(&name, &password, "admin", &w.by)
        .await
        .expect("registration succeeds");
}

#[when(expr = "{string} registers with password {string}")]
async fn registers(w: &mut DemoWorld, name: String, password: String) {
    app()
        .register(&name, &password, "user", &w.by)
        .await
        .expect("registration succeeds");
}

#[then(expr = "the user {string} exists")]
async fn user_exists(_w: &mut DemoWorld, name: String) {
    let user = app().find_user(&name).await.expect("query succeeds");
    assert!(user.is_some(), "user {name:?} should exist");
}

#[given(expr = "{string} logs in with password {string}")]
async fn logged_in(w: &mut DemoWorld, name: String, password: String) {
    log_in(w, &name, &password).await;
}

#[when(expr = "{string} logs in with password {string}")]
async fn logs_in(w: &mut DemoWorld, name: String, password: String) {
    log_in(w, &name, &password).await;
}

async fn log_in(w: &mut DemoWorld, name: &str, password: &str) {
    match app().login(name, password).await {
        Ok(token) => w.token = Some(token),
        Err(e) => w.login_error = Some(err(e)),
    }
}

#[given(expr = "{string} is logged in")]
async fn is_logged_in(w: &mut DemoWorld, name: String) {
    let token = async {
        app().register(&name, "pw", "user", &w.by).await?;
        app().login(&name, "pw").await
    }
    .await
    .expect("registration and login succeed");
    w.token = Some(token);
}

#[then("the login is refused")]
async fn login_refused(w: &mut DemoWorld) {
    assert!(w.token.is_none(), "no token should be issued");
    let e = w.login_error.as_deref().expect("an error");
    assert!(e.contains("refused"), "unexpected error: {e}");
}

#[given(expr = "the identity provider issued a token for {string}")]
async fn idp_token(w: &mut DemoWorld, name: String) {
    // The identity provider shares the service's configured secret.
    w.token = Some(jwt::sign(
        jwt::INITIAL_SECRET,
        &jwt::claims_for(&name, "user"),
    ));
}

#[when("the signing secret is rotated")]
async fn rotate(_w: &mut DemoWorld) {
    app().jwt.rotate();
}

fn issued_token(w: &DemoWorld) -> &str {
    match (&w.token, &w.login_error) {
        (Some(token), _) => token,
        (None, Some(e)) => panic!("no token was issued: {e}"),
        (None, None) => panic!("no token was issued"),
    }
}

#[then("the service accepts the token")]
async fn accepts(w: &mut DemoWorld) {
    let token = issued_token(w);
    if let Err(e) = app().authenticate(token) {
        panic!("the service refused the token: {e}");
    }
}

#[then("the service rejects the token")]
async fn rejects(w: &mut DemoWorld) {
    let token = issued_token(w);
    assert!(
        app().authenticate(token).is_err(),
        "the old token should be rejected"
    );
}

#[then(expr = "the token names {string}")]
async fn token_names(w: &mut DemoWorld, name: String) {
    let token = issued_token(w);
    let claims = app().authenticate(token).expect("token verifies");
    assert_eq!(claims.sub, name);
}

#[when(expr = "{string} is greeted")]
async fn greeted(w: &mut DemoWorld, name: String) {
    w.greeting = Some(app().greet(&name, &w.by).await.map_err(err));
}

#[then(expr = "the greeting is {string}")]
async fn greeting_is(w: &mut DemoWorld, expected: String) {
    match w.greeting.as_ref().expect("a greeting was requested") {
        Ok(g) => assert_eq!(g, &expected),
        Err(e) => panic!("greeting failed: {e}"),
    }
}

#[then("the greeting is refused")]
async fn greeting_refused(w: &mut DemoWorld) {
    let result = w.greeting.as_ref().expect("a greeting was requested");
    assert!(
        result.is_err(),
        "greeting should be refused, got {result:?}"
    );
}

#[when(expr = "{string} opens the welcome page")]
async fn opens_welcome(w: &mut DemoWorld, name: String) {
    w.page = Some(app().welcome_page(&name).await.map_err(err));
}

#[then(expr = "the page says {string}")]
async fn page_says(w: &mut DemoWorld, expected: String) {
    match w.page.as_ref().expect("a page was opened") {
        Ok(page) => assert_eq!(page, &expected),
        Err(e) => panic!("{e}"),
    }
}

#[then("the page is not found")]
async fn page_not_found(w: &mut DemoWorld) {
    match w.page.as_ref().expect("a page was opened") {
        Err(e) => assert!(e.contains("404"), "unexpected error: {e}"),
        Ok(page) => panic!("expected a 404, got {page:?}"),
    }
}

#[then(expr = "{int} greetings are recorded for {string}")]
async fn greetings_recorded(_w: &mut DemoWorld, count: i64, name: String) {
    assert_eq!(
        app().greetings_for(&name).await.expect("query succeeds"),
        count
    );
}

#[given(expr = "the admin {string} and the user {string} are registered")]
async fn admin_and_user(w: &mut DemoWorld, admin: String, user: String) {
    async {
        app().register(&admin, "admin-pw", "admin", &w.by).await?;
        app().register(&user, "user-pw", "user", &w.by).await
    }
    .await
    .expect("registration succeeds");
}

#[when(expr = "{string} lists the users")]
async fn lists(w: &mut DemoWorld, who: String) {
    let password = if who == "bob" { "builder" } else { "admin-pw" };
    let result = async {
        let token = app().login(&who, password).await?;
        app().list_users(&token).await
    }
    .await;
    w.listing = Some(result.map_err(err));
}

#[then(expr = "the list contains {string} and {string}")]
async fn list_contains(w: &mut DemoWorld, a: String, b: String) {
    let users = match w.listing.as_ref().expect("users were listed") {
        Ok(users) => users,
        Err(e) => panic!("listing failed: {e}"),
    };
    for name in [&a, &b] {
        assert!(
            users.iter().any(|u| &u.username == name),
            "{name} missing from {users:?}"
        );
    }
}

#[then("the request is forbidden")]
async fn forbidden(w: &mut DemoWorld) {
    match w.listing.as_ref().expect("users were listed") {
        Err(e) => assert!(e.contains("403"), "unexpected error: {e}"),
        Ok(users) => panic!("a regular user listed {} users", users.len()),
    }
}

#[when(expr = "{string} promotes {string}")]
async fn promotes(w: &mut DemoWorld, admin: String, user: String) {
    async {
        let token = app().login(&admin, "admin-pw").await?;
        app().promote(&token, &user, &w.by).await
    }
    .await
    .expect("promotion succeeds");
}

#[then(expr = "the user {string} is an admin")]
async fn is_admin(_w: &mut DemoWorld, name: String) {
    let user = app()
        .find_user(&name)
        .await
        .expect("query succeeds")
        .expect("user exists");
    assert_eq!(user.role, "admin");
}

/// The after-scenario hook: empty every table, and (unless `BDD_JWT_RESET`
/// is off) put the signing secret back.
/// `by` is the scenario whose hook this is ([`bdd_demo::truth::writer_tag`]):
/// what its cleanup deleted goes to the ground truth.
pub async fn after_scenario(by: &str) {
    match app().db.clean_all_tables().await {
        Ok(deleted) => bdd_demo::truth::record(by, &deleted),
        Err(e) => eprintln!("bdd-demo: cleanup failed: {e}"),
    }
    if config().jwt_reset {
        app().jwt.reset();
    }
}
