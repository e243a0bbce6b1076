# Multi-stage build of the gateway. Build stage: restore from the project files alone first, so the
# restore layer is cached until a project file changes; then publish.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props ./
COPY src/Gateway.Protocols/Gateway.Protocols.csproj src/Gateway.Protocols/
COPY src/Gateway/Gateway.csproj src/Gateway/
RUN dotnet restore src/Gateway/Gateway.csproj
COPY appsettings.json ./
COPY src/ src/
RUN dotnet publish src/Gateway/Gateway.csproj -c Release -o /app --no-restore

# Runtime stage: the ASP.NET Core runtime only, running as the image's non-root "app" user.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS final
WORKDIR /app
COPY --from=build /app ./
# Listen on every interface inside the container; any setting can be overridden the same way,
# e.g. -e Gateway__Endpoints__echo__Port=9100.
# DOTNET_TC_CallCountingDelayMs=0: the runtime waits for a pause in new JIT work before optimising hot
# code, ten times longer on one CPU (a container limited to one core); a gateway keeps meeting new code
# paths, so its hot send path stayed unoptimised for many seconds (bench/README.md).
ENV Gateway__DefaultAddress="*" \
    Gateway__LogFormat=Json \
    DOTNET_gcServer=0 \
    DOTNET_TC_CallCountingDelayMs=0
# HTTP, echo, stick, chat, console, and udp. The chat Unix socket lives in /tmp inside the container.
EXPOSE 8080 9000 9001 9002 9009 9003/udp
USER $APP_UID
# The runtime image has no curl: the gateway asks its own /readyz (exit 0 when ready).
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["dotnet", "Gateway.dll", "probe"]
ENTRYPOINT ["dotnet", "Gateway.dll"]
