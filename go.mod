module nutcracker

go 1.26

require gopkg.in/yaml.v3 v3.0.1

require (
	github.com/bradfitz/gomemcache v0.0.0-20260422231931-4d751bb6e37c // indirect
	github.com/spf13/pflag v1.0.10 // indirect
)
