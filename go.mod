module github.com/licensor/licensor

go 1.26.8

require (
	github.com/c2sp/wycheproof v0.0.0-20260902155932-3fa63dd0344a
	github.com/go-jose/go-jose/v4 v4.1.8
)
