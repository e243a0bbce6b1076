using Gateway.Configuration;
using Microsoft.Extensions.Configuration;

namespace Gateway.Tests.Configuration;

/// <summary>
/// The settings check refuses what the configuration binder refuses, in words naming the setting, and what is left
/// once the refused keys are taken out binds without an error.
/// </summary>
public sealed class SettingsShapeTests
{
    private static IConfigurationSection Section(string key, string value) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection([new("Gateway:Endpoints:echo:Port", "9000"), new(key, value)])
            .Build()
            .GetSection(GatewayOptions.SectionName);

    private static bool BinderRefuses(IConfigurationSection section)
    {
        try
        {
            section.Bind(new GatewayOptions(), ConfigurationBinding.Strict);
            return false;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    [Theory]
    [InlineData("Gateway:Http:Port", "8081")]
    [InlineData("Gateway:Http:Port", "abc")]
    [InlineData("Gateway:Http:Port", "99999999999")]
    [InlineData("Gateway:Http:Port", "")]
    [InlineData("Gateway:Http:Prt", "1")]
    [InlineData("Gateway:Endpoints:echo:IdleTimeout", "00:05:00")]
    [InlineData("Gateway:Endpoints:echo:IdleTimeout", "5min")]
    [InlineData("Gateway:Endpoints:echo:IdleTimeout", "")]
    [InlineData("Gateway:Endpoints:echo:Framing:Kind", "line")]
    [InlineData("Gateway:Endpoints:echo:Framing:Kind", "Lenght")]
    [InlineData("Gateway:Endpoints:echo:Framing:PadByte", "300")]
    [InlineData("Gateway:Endpoints:echo:Framing:Delimiter", "")]
    [InlineData("Gateway:Endpoints:echo:Subscribe:0", "a/b")]
    [InlineData("Gateway:Endpoints:echo:Tls:Certificate:Pth", "server.crt")]
    [InlineData("Gateway:Endpoints:echo:Enabled", "yes")]
    [InlineData("Gateway:Telemetry:OtlpEndpoint", "")]
    [InlineData("Gateway:Telemetry:OtlpEndpoint", "http://collector:4317")]
    [InlineData("Gateway:Security:ApiKeys:0:Identity", "ops")]
    [InlineData("Gateway:Security:ApiKeys:0:Key", "secret")]
    [InlineData("Gateway:Security:Permissions:bob:Admin", "yes")]
    [InlineData("Gateway:Security:Permissions:bob:Publish:0", "a/#")]
    public void Refuses_what_the_binder_refuses_and_binds_the_rest(string key, string value)
    {
        var section = Section(key, value);

        var problems = SettingsShape.Check(section, typeof(GatewayOptions));

        Assert.Equal(BinderRefuses(section), problems.Count > 0);
        Assert.All(problems, problem => Assert.StartsWith(key, problem.Message, StringComparison.Ordinal));
        Assert.False(BinderRefuses(SettingsShape.Without(section, problems)));
    }

    [Theory]
    [InlineData("Gateway:Endpoints:echo:Framing:Kind", "7", "Gateway:Endpoints:echo:Framing:Kind '7' is not one of: LengthField, Delimiter, Line, FixedLength")]
    [InlineData("Gateway:Https:IsEnabled", "true", "Gateway:Https:IsEnabled is not a setting")]
    [InlineData("Gateway:Http:Port:Number", "1", "Gateway:Http:Port:Number is not a setting: Gateway:Http:Port takes a single value")]
    [InlineData("Gateway:Http", "8080", "Gateway:Http is a group of settings, not a value (was '8080')")]
    public void Refuses_values_the_binder_would_take_without_effect(string key, string value, string expected)
    {
        var section = Section(key, value);

        var problems = SettingsShape.Check(section, typeof(GatewayOptions));

        Assert.Equal(expected, Assert.Single(problems).Message);
        Assert.False(BinderRefuses(SettingsShape.Without(section, problems)));
    }

    [Theory]
    [InlineData("Gateway:Endpoints:echo:Prot", "Gateway:Endpoints:echo:Prot is not a setting; did you mean Port?")]
    [InlineData("Gateway:Endpoints:echo:Framming:Kind", "Gateway:Endpoints:echo:Framming is not a setting; did you mean Framing?")]
    [InlineData("Gateway:Endpoints:echo:Colour", "Gateway:Endpoints:echo:Colour is not a setting")]
    [InlineData("Gateway:Http:X", "Gateway:Http:X is not a setting")]
    public void Unknown_key_is_named_with_the_closest_setting_when_one_is_close(string key, string expected)
    {
        var problems = SettingsShape.Check(Section(key, "1"), typeof(GatewayOptions));

        Assert.Equal(expected, Assert.Single(problems).Message);
    }

    [Fact]
    public void Shipped_appsettings_has_no_problem()
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(Infrastructure.RepositoryPaths.Root, "appsettings.json"))
            .Build();

        Assert.Empty(SettingsShape.Check(configuration.GetSection(GatewayOptions.SectionName), typeof(GatewayOptions)));
    }
}
