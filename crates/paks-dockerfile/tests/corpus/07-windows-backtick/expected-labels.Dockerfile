# escape=`

FROM mcr.microsoft.com/windows/servercore:ltsc2022 AS tools
LABEL org.opencontainers.image.base.name="mcr.microsoft.com/windows/servercore:ltsc2022" `
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d0"
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
RUN Invoke-WebRequest -Uri https://example.invalid/tool.zip -OutFile C:\tool.zip ; `
    Expand-Archive C:\tool.zip -DestinationPath C:\tools ; `
    Remove-Item C:\tool.zip

FROM mcr.microsoft.com/windows/nanoserver:ltsc2022
LABEL org.opencontainers.image.base.name="mcr.microsoft.com/windows/nanoserver:ltsc2022" `
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d1"
COPY --from=tools C:\tools C:\tools
LABEL path=C:\tools description="Windows `"nano`" image"
ENV PATH="C:\tools;C:\Windows\system32"
CMD ["C:\\tools\\tool.exe"]
