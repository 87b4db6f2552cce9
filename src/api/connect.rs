//! Where a store is and how to sign in to it, and the one function that turns that into a
//! client. The desktop app's store switch, its start-up and `imagedesk sync` all connect here,
//! so the credentials are put together the same way everywhere.

use super::client::{Client, Credentials};
use super::error::ApiError;

/// A store's API root and the credentials to use there.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreAddress {
    /// The API root, e.g. `https://store.example/api/v2`.
    pub api_url: String,
    /// For HTTP Basic credentials (`user:token`); `None` sends the token as `X-Auth-Token`.
    pub user: Option<String>,
    pub token: String,
}

impl std::fmt::Debug for StoreAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a token.
        f.debug_struct("StoreAddress")
            .field("api_url", &self.api_url)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl StoreAddress {
    /// What the client sends: Basic with a user name, the token header without.
    pub fn credentials(&self) -> Credentials {
        match &self.user {
            Some(username) => Credentials::Basic {
                username: username.clone(),
                token: self.token.clone(),
            },
            None => Credentials::Token(self.token.clone()),
        }
    }
}

/// A client for the store at `address`. It does not contact the store: a bad URL is the only
/// error here; an unreachable store shows up on the first request.
pub fn connect(address: &StoreAddress) -> Result<Client, ApiError> {
    Client::new(&address.api_url, address.credentials())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(user: Option<&str>) -> StoreAddress {
        StoreAddress {
            api_url: "http://127.0.0.1:9/api/v2".into(),
            user: user.map(str::to_owned),
            token: "secret".into(),
        }
    }

    #[test]
    fn a_user_name_means_basic_credentials() {
        assert!(matches!(
            address(Some("ann")).credentials(),
            Credentials::Basic { username, token } if username == "ann" && token == "secret"
        ));
        assert!(matches!(
            address(None).credentials(),
            Credentials::Token(token) if token == "secret"
        ));
    }

    #[test]
    fn the_token_is_never_printed() {
        assert!(!format!("{:?}", address(Some("ann"))).contains("secret"));
    }

    #[test]
    fn connect_refuses_a_url_that_is_not_one() {
        let mut bad = address(None);
        bad.api_url = "not a url".into();
        assert!(connect(&bad).is_err());
        assert!(connect(&address(None)).is_ok());
    }
}
