Feature: auth
  Users register, log in, and present tokens signed with the service's
  in-memory secret.

  Background:
    Given the service is up

  Scenario: Registering a new user
    When "alice" registers with password "wonderland"
    Then the user "alice" exists

  Scenario: Logging in issues a token that verifies
    Given a registered user "alice" with password "wonderland"
    When "alice" logs in with password "wonderland"
    Then the service accepts the token
    And the token names "alice"

  Scenario: A wrong password is refused
    Given a registered user "alice" with password "wonderland"
    When "alice" logs in with password "guess"
    Then the login is refused

  Scenario: Rotating the signing secret invalidates issued tokens
    Given "alice" is logged in
    When the signing secret is rotated
    Then the service rejects the token

  Scenario: Tokens from the identity provider are accepted
    Given the identity provider issued a token for "ida"
    Then the service accepts the token
    And the token names "ida"
