# Shared set-up for the reference-system scenarios (examples/*/scenario.pl).
#
# A scenario starts its own throwaway server, creates the database "app",
# installs pg_steward and loads the example's schema.sql, then plays the
# seed document's workflow in SQL and asserts the outcome with Test::More.
#
#   use StewardExample;
#   my $ex = StewardExample->new('coderunner');          # examples/coderunner/schema.sql
#   $ex->sql(q{SELECT 1});                               # safe_psql in "app"; dies on error
#   my ($ok, $out, $err) = $ex->try(q{...});             # an error is expected: no die
#   $ex->node;                                           # the PostgreSQL::Test::Cluster
package StewardExample;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# new(NAME, preload => 1, conf => "extra postgresql.conf lines")
# preload (the default) puts pg_steward in shared_preload_libraries, as the
# docs recommend for applications (a soft DELETE then reports its real count).
sub new {
    my ($class, $name, %opt) = @_;
    my $root = $ENV{STEWARD_ROOT} or die "STEWARD_ROOT is not set (run through test/run.sh)";
    my $schema = "$root/examples/$name/schema.sql";
    die "no $schema" unless -f $schema;
    my $preload = exists $opt{preload} ? $opt{preload} : 1;
    my $node = PostgreSQL::Test::Cluster->new("example_$name");
    $node->init;
    my @libs = ($preload ? ('pg_steward') : (), @{ $opt{libraries} || [] });
    $node->append_conf('postgresql.conf',
        (@libs ? "shared_preload_libraries = '" . join(',', @libs) . "'\n" : '')
        . "log_min_messages = warning\n" . ($opt{conf} || ''));
    $node->start;
    $node->safe_psql('postgres', 'CREATE DATABASE app');
    my $self = bless { node => $node, name => $name, root => $root }, $class;
    # The schema script creates the extension itself (as an application's
    # first migration would) and everything else the example needs.
    my ($ret, $out, $err) = $node->psql('app', slurp_file($schema), on_error_stop => 1);
    if ($ret != 0) {
        # BAIL_OUT shows one line: put the whole stderr (NOTICEs first) in a
        # diag and name the first error in the bail-out line itself
        diag($err);
        my ($first) = $err =~ /^(.*ERROR:.*)$/m;
        BAIL_OUT("examples/$name/schema.sql failed: " . ($first || $err));
    }
    pass("examples/$name/schema.sql loads");
    return $self;
}

sub node { $_[0]{node} }

# sql(SQL [, DB]): run in one session, die with the server's message on error.
sub sql {
    my ($self, $sql, $db) = @_;
    return $self->{node}->safe_psql($db || 'app', $sql);
}

# try(SQL [, DB]): (succeeded, stdout, stderr) without dying.
sub try {
    my ($self, $sql, $db) = @_;
    my ($ret, $out, $err) = $self->{node}->psql($db || 'app', $sql);
    return ($ret == 0, $out, $err);
}

# fails_like(SQL, REGEX, NAME): the statement fails with a message matching REGEX.
sub fails_like {
    my ($self, $sql, $re, $name) = @_;
    my ($ok, $out, $err) = $self->try($sql);
    ok(!$ok && $err =~ $re, $name) or diag("expected an error like $re, got: " . ($ok ? "success: $out" : $err));
}

# workers(N, SQL_SCRIPT): run the script in N concurrent sessions and wait for
# all of them; returns the stdout of each (dies if one fails).
sub workers {
    my ($self, $n, $script) = @_;
    my @bg = map { $self->{node}->background_psql('app', on_error_stop => 1) } 1 .. $n;
    # send to all first so they run side by side, then collect
    $_->{stdin} .= "$script\n\\echo __done__\n" for @bg;
    $_->{run}->pump_nb for @bg;
    my @out;
    for my $b (@bg) {
        $b->{run}->pump until $b->{stdout} =~ /__done__/ || !$b->{run}->pumpable;
        my $o = $b->{stdout};
        die "worker failed: $b->{stderr}" if $b->{stderr} =~ /ERROR/;
        $o =~ s/__done__\s*$//;
        push @out, $o;
        $b->quit;
    }
    return @out;
}

sub DESTROY { }

1;
