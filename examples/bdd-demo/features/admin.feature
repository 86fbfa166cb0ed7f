Feature: admin
  Admins see and manage every account.

  Background:
    Given the service is up

  Scenario: An admin lists all users
    Given the admin "root" and the user "bob" are registered
    When "root" lists the users
    Then the list contains "root" and "bob"

  Scenario: A regular user cannot list users
    Given a registered user "bob" with password "builder"
    When "bob" lists the users
    Then the request is forbidden

  Scenario: An admin promotes a user
    Given the admin "root" and the user "carol" are registered
    When "root" promotes "carol"
    Then the user "carol" is an admin
