module github.com/nuki-invites/nuki-invites

go 1.26
