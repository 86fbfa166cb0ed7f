Feature: greet
  Registered users are greeted by name.

  Background:
    Given the service is up

  Scenario: Greeting a registered user
    Given a registered user "greta" with password "pw"
    When "greta" is greeted
    Then the greeting is "Hello, greta!"

  Scenario: Greeting an unknown user is refused
    When "nobody" is greeted
    Then the greeting is refused

  Scenario: Welcome page for a newly registered user
    Given a registered user "gina" with password "pw"
    When "gina" opens the welcome page
    Then the page says "Welcome, gina!"

  Scenario: The welcome page of an unknown user is not found
    When "nobody" opens the welcome page
    Then the page is not found
