// Package storetest is the README's conformance run for a store of one's own.
package storetest
