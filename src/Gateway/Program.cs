using Gateway;
using Gateway.Observability;
using Gateway.Overload;

NativeHeapArenas.Limit();
if (GatewayCommandLine.TryAnswer(args, Console.Out) is { } answered)
    return answered;
if (args is [ReadinessProbe.Command, .. var probeArgs])
    return await ReadinessProbe.RunAsync(probeArgs);

WebApplication app;
try
{
    app = GatewayApplication.Build(GatewayCommandLine.ConfigurationArguments(args, Console.Error));
    await GatewayApplication.StartAsync(app);
}
catch (GatewayStartupException ex)
{
    await Console.Error.WriteLineAsync("Gateway failed to start. " + ex.Message);
    return 2;
}

await app.WaitForShutdownAsync();
// Disposing the container flushes what telemetry and logging still hold: OTLP's last metrics and spans among them.
await app.DisposeAsync();
return 0;
