package pgstore

// MigrateTo is migrateTo, for the tests of a migration.
var MigrateTo = migrateTo
